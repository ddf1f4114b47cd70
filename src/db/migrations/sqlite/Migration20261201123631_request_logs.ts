import { Migration } from '@mikro-orm/migrations';

export class Migration20261201123631_request_logs extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table \`mcp_call_logs\` (\`id\` text not null, \`time\` datetime not null, \`workspace_id\` text not null, \`gateway\` text not null default '', \`api_key_id\` text not null default '', \`server\` text not null, \`tool\` text not null, \`latency_ms\` integer not null default 0, \`status\` text not null, \`error_message\` text not null default '', \`input\` text null, \`output\` text null, \`parent_id\` text not null default '', primary key (\`id\`));`);
    this.addSql(`create index \`mcp_call_logs_workspace_id_time_index\` on \`mcp_call_logs\` (\`workspace_id\`, \`time\`);`);
    this.addSql(`create index \`mcp_call_logs_workspace_id_gateway_time_index\` on \`mcp_call_logs\` (\`workspace_id\`, \`gateway\`, \`time\`);`);
    this.addSql(`create index \`mcp_call_logs_workspace_id_server_time_index\` on \`mcp_call_logs\` (\`workspace_id\`, \`server\`, \`time\`);`);
    this.addSql(`create index \`mcp_call_logs_workspace_id_tool_time_index\` on \`mcp_call_logs\` (\`workspace_id\`, \`tool\`, \`time\`);`);
    this.addSql(`create index \`mcp_call_logs_workspace_id_api_key_id_time_index\` on \`mcp_call_logs\` (\`workspace_id\`, \`api_key_id\`, \`time\`);`);
    this.addSql(`create index \`mcp_call_logs_workspace_id_status_time_index\` on \`mcp_call_logs\` (\`workspace_id\`, \`status\`, \`time\`);`);

    this.addSql(`create table \`request_logs\` (\`id\` text not null, \`time\` datetime not null, \`workspace_id\` text not null, \`gateway\` text not null default '', \`api_key_id\` text not null default '', \`api_key_prefix\` text not null default '', \`endpoint\` text not null, \`requested_model\` text not null default '', \`provider\` text not null default '', \`model\` text not null default '', \`route\` text not null default '', \`cel_results\` json not null, \`attempts\` json not null, \`status\` integer not null, \`error_code\` text not null default '', \`error_message\` text not null default '', \`rejected_stage\` text not null default '', \`latency_ms\` integer not null default 0, \`ttft_ms\` integer not null default 0, \`prompt_tokens\` integer not null default 0, \`completion_tokens\` integer not null default 0, \`cached_tokens\` integer not null default 0, \`reasoning_tokens\` integer not null default 0, \`cache_write_tokens\` integer not null default 0, \`cost_nanos\` bigint not null default 0, \`rate_limits\` json not null, \`spend_limits\` json not null, \`conversation_id\` text not null default '', \`streamed\` integer not null default false, \`client_aborted\` integer not null default false, \`bodies_truncated\` integer not null default false, \`request_headers\` text null, \`response_headers\` text null, \`request_body\` text null, \`response_body\` text null, \`search_text\` text null, primary key (\`id\`));`);
    this.addSql(`create index \`request_logs_workspace_id_time_index\` on \`request_logs\` (\`workspace_id\`, \`time\`);`);
    this.addSql(`create index \`request_logs_workspace_id_gateway_time_index\` on \`request_logs\` (\`workspace_id\`, \`gateway\`, \`time\`);`);
    this.addSql(`create index \`request_logs_workspace_id_model_time_index\` on \`request_logs\` (\`workspace_id\`, \`model\`, \`time\`);`);
    this.addSql(`create index \`request_logs_workspace_id_requested_model_time_index\` on \`request_logs\` (\`workspace_id\`, \`requested_model\`, \`time\`);`);
    this.addSql(`create index \`request_logs_workspace_id_provider_time_index\` on \`request_logs\` (\`workspace_id\`, \`provider\`, \`time\`);`);
    this.addSql(`create index \`request_logs_workspace_id_api_key_id_time_index\` on \`request_logs\` (\`workspace_id\`, \`api_key_id\`, \`time\`);`);
    this.addSql(`create index \`request_logs_workspace_id_status_time_index\` on \`request_logs\` (\`workspace_id\`, \`status\`, \`time\`);`);
    this.addSql(`create index \`request_logs_workspace_id_error_code_time_index\` on \`request_logs\` (\`workspace_id\`, \`error_code\`, \`time\`);`);
    this.addSql(`create index \`request_logs_workspace_id_route_time_index\` on \`request_logs\` (\`workspace_id\`, \`route\`, \`time\`);`);
    this.addSql(`create index \`request_logs_workspace_id_conversation_id_time_index\` on \`request_logs\` (\`workspace_id\`, \`conversation_id\`, \`time\`);`);

    this.addSql(`alter table \`gateways\` add column \`record_bodies\` integer not null default false;`);
  }

}
