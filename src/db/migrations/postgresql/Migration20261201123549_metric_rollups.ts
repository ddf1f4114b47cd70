import { Migration } from '@mikro-orm/migrations';

export class Migration20261201123549_metric_rollups extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "metric_rollups" ("id" varchar(80) not null, "workspace_id" varchar(40) not null, "resolution" int not null, "bucket_start" bigint not null, "gateway" varchar(200) not null default '', "model" varchar(200) not null default '', "provider" varchar(200) not null default '', "api_key_id" varchar(200) not null default '', "route" varchar(200) not null default '', "status" int not null, "requests" bigint not null default 0, "errors" bigint not null default 0, "fallbacks" bigint not null default 0, "prompt_tokens" bigint not null default 0, "completion_tokens" bigint not null default 0, "cached_tokens" bigint not null default 0, "reasoning_tokens" bigint not null default 0, "cost_nanos" bigint not null default 0, "latency_sum_ms" double precision not null default 0, "latency_sketch" bytea not null, "ttft_sketch" bytea not null, constraint "metric_rollups_pkey" primary key ("id"));`);
    this.addSql(`create index "metric_rollups_workspace_id_resolution_bucket_start_index" on "metric_rollups" ("workspace_id", "resolution", "bucket_start");`);
    this.addSql(`create index "metric_rollups_resolution_bucket_start_index" on "metric_rollups" ("resolution", "bucket_start");`);

  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "metric_rollups" cascade;`);

  }

}
