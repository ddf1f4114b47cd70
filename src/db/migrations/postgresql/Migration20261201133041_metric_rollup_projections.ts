import { Migration } from '@mikro-orm/migrations';

export class Migration20261201133041_metric_rollup_projections extends Migration {

  override async up(): Promise<void> {
    this.addSql(`drop index "metric_rollups_workspace_id_resolution_bucket_start_index";`);

    this.addSql(`alter table "metric_rollups" add column "projection" int not null default 63;`);
    this.addSql(`create index "metric_rollups_workspace_id_resolution_projection__62114_index" on "metric_rollups" ("workspace_id", "resolution", "projection", "bucket_start");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop index "metric_rollups_workspace_id_resolution_projection__62114_index";`);
    this.addSql(`alter table "metric_rollups" drop column "projection";`);

    this.addSql(`create index "metric_rollups_workspace_id_resolution_bucket_start_index" on "metric_rollups" ("workspace_id", "resolution", "bucket_start");`);
  }

}
