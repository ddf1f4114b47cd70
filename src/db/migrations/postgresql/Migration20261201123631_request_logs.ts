import { Migration } from '@mikro-orm/migrations';

export class Migration20261201123631_request_logs extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "mcp_call_logs" ("id" varchar(40) not null, "time" timestamptz not null, "workspace_id" varchar(40) not null, "gateway" varchar(63) not null default '', "api_key_id" varchar(40) not null default '', "server" varchar(63) not null, "tool" varchar(255) not null, "latency_ms" int not null default 0, "status" varchar(16) not null, "error_message" text not null default '', "input" text null, "output" text null, "parent_id" varchar(40) not null default '', constraint "mcp_call_logs_pkey" primary key ("id"));`);
    this.addSql(`create index "mcp_call_logs_workspace_id_time_index" on "mcp_call_logs" ("workspace_id", "time");`);
    this.addSql(`create index "mcp_call_logs_workspace_id_gateway_time_index" on "mcp_call_logs" ("workspace_id", "gateway", "time");`);
    this.addSql(`create index "mcp_call_logs_workspace_id_server_time_index" on "mcp_call_logs" ("workspace_id", "server", "time");`);
    this.addSql(`create index "mcp_call_logs_workspace_id_tool_time_index" on "mcp_call_logs" ("workspace_id", "tool", "time");`);
    this.addSql(`create index "mcp_call_logs_workspace_id_api_key_id_time_index" on "mcp_call_logs" ("workspace_id", "api_key_id", "time");`);
    this.addSql(`create index "mcp_call_logs_workspace_id_status_time_index" on "mcp_call_logs" ("workspace_id", "status", "time");`);

    this.addSql(`create table "request_logs" ("id" varchar(40) not null, "time" timestamptz not null, "workspace_id" varchar(40) not null, "gateway" varchar(63) not null default '', "api_key_id" varchar(40) not null default '', "api_key_prefix" varchar(32) not null default '', "endpoint" varchar(32) not null, "requested_model" varchar(255) not null default '', "provider" varchar(63) not null default '', "model" varchar(255) not null default '', "route" varchar(63) not null default '', "cel_results" jsonb not null, "attempts" jsonb not null, "status" int not null, "error_code" varchar(64) not null default '', "error_message" text not null default '', "rejected_stage" varchar(16) not null default '', "latency_ms" int not null default 0, "ttft_ms" int not null default 0, "prompt_tokens" int not null default 0, "completion_tokens" int not null default 0, "cached_tokens" int not null default 0, "reasoning_tokens" int not null default 0, "cache_write_tokens" int not null default 0, "cost_nanos" bigint not null default 0, "rate_limits" jsonb not null, "spend_limits" jsonb not null, "conversation_id" varchar(255) not null default '', "streamed" boolean not null default false, "client_aborted" boolean not null default false, "bodies_truncated" boolean not null default false, "request_headers" text null, "response_headers" text null, "request_body" text null, "response_body" text null, "search_text" text null, constraint "request_logs_pkey" primary key ("id"));`);
    this.addSql(`create index "request_logs_workspace_id_time_index" on "request_logs" ("workspace_id", "time");`);
    this.addSql(`create index "request_logs_workspace_id_gateway_time_index" on "request_logs" ("workspace_id", "gateway", "time");`);
    this.addSql(`create index "request_logs_workspace_id_model_time_index" on "request_logs" ("workspace_id", "model", "time");`);
    this.addSql(`create index "request_logs_workspace_id_requested_model_time_index" on "request_logs" ("workspace_id", "requested_model", "time");`);
    this.addSql(`create index "request_logs_workspace_id_provider_time_index" on "request_logs" ("workspace_id", "provider", "time");`);
    this.addSql(`create index "request_logs_workspace_id_api_key_id_time_index" on "request_logs" ("workspace_id", "api_key_id", "time");`);
    this.addSql(`create index "request_logs_workspace_id_status_time_index" on "request_logs" ("workspace_id", "status", "time");`);
    this.addSql(`create index "request_logs_workspace_id_error_code_time_index" on "request_logs" ("workspace_id", "error_code", "time");`);
    this.addSql(`create index "request_logs_workspace_id_route_time_index" on "request_logs" ("workspace_id", "route", "time");`);
    this.addSql(`create index "request_logs_workspace_id_conversation_id_time_index" on "request_logs" ("workspace_id", "conversation_id", "time");`);

    this.addSql(`alter table "gateways" add column "record_bodies" boolean not null default false;`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "mcp_call_logs" cascade;`);

    this.addSql(`drop table if exists "request_logs" cascade;`);

    this.addSql(`alter table "gateways" drop column "record_bodies";`);
  }

}
