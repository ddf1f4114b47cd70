import { Migration } from '@mikro-orm/migrations';

export class Migration20261201123548_metric_rollups extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table \`metric_rollups\` (\`id\` text not null, \`workspace_id\` text not null, \`resolution\` integer not null, \`bucket_start\` bigint not null, \`gateway\` text not null default '', \`model\` text not null default '', \`provider\` text not null default '', \`api_key_id\` text not null default '', \`route\` text not null default '', \`status\` integer not null, \`requests\` bigint not null default 0, \`errors\` bigint not null default 0, \`fallbacks\` bigint not null default 0, \`prompt_tokens\` bigint not null default 0, \`completion_tokens\` bigint not null default 0, \`cached_tokens\` bigint not null default 0, \`reasoning_tokens\` bigint not null default 0, \`cost_nanos\` bigint not null default 0, \`latency_sum_ms\` double not null default 0, \`latency_sketch\` blob not null, \`ttft_sketch\` blob not null, primary key (\`id\`));`);
    this.addSql(`create index \`metric_rollups_workspace_id_resolution_bucket_start_index\` on \`metric_rollups\` (\`workspace_id\`, \`resolution\`, \`bucket_start\`);`);
    this.addSql(`create index \`metric_rollups_resolution_bucket_start_index\` on \`metric_rollups\` (\`resolution\`, \`bucket_start\`);`);

  }

}
