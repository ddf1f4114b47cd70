import { Migration } from '@mikro-orm/migrations';

export class Migration20261201093950_initial extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table "admin_tokens" ("id" varchar(40) not null, "workspace_id" varchar(40) null, "name" varchar(63) not null, "prefix" varchar(32) not null, "hash" varchar(64) not null, "expires_at" timestamptz null, "revoked_at" timestamptz null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "admin_tokens_pkey" primary key ("id"));`);
    this.addSql(`create index "admin_tokens_workspace_id_index" on "admin_tokens" ("workspace_id");`);
    this.addSql(`alter table "admin_tokens" add constraint "admin_tokens_hash_unique" unique ("hash");`);

    this.addSql(`create table "api_keys" ("id" varchar(40) not null, "workspace_id" varchar(40) not null, "name" varchar(63) not null, "prefix" varchar(32) not null, "hash" varchar(64) not null, "metadata" jsonb not null, "gateways" jsonb not null, "default_gateway" varchar(63) not null default '', "expires_at" timestamptz null, "revoked_at" timestamptz null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "api_keys_pkey" primary key ("id"));`);
    this.addSql(`create index "api_keys_workspace_id_index" on "api_keys" ("workspace_id");`);
    this.addSql(`alter table "api_keys" add constraint "api_keys_hash_unique" unique ("hash");`);
    this.addSql(`alter table "api_keys" add constraint "api_keys_workspace_id_name_unique" unique ("workspace_id", "name");`);

    this.addSql(`create table "config_state" ("id" serial primary key, "version" bigint not null, "updated_at" timestamptz not null);`);

    this.addSql(`create table "gateways" ("id" varchar(40) not null, "workspace_id" varchar(40) not null, "name" varchar(63) not null, "description" text not null default '', "tags" jsonb not null, "models" jsonb not null, "model_selector" text not null default '', "mcp" jsonb not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "gateways_pkey" primary key ("id"));`);
    this.addSql(`create index "gateways_workspace_id_index" on "gateways" ("workspace_id");`);
    this.addSql(`alter table "gateways" add constraint "gateways_workspace_id_name_unique" unique ("workspace_id", "name");`);

    this.addSql(`create table "mcp_servers" ("id" varchar(40) not null, "workspace_id" varchar(40) not null, "gateway_id" varchar(40) not null, "name" varchar(63) not null, "display_name" varchar(200) not null default '', "transport" varchar(32) not null, "url" varchar(2048) not null default '', "command" varchar(1024) not null default '', "args" jsonb not null, "env_ciphertext" text not null default '', "env_names" jsonb not null, "timeout_ms" int not null default 0, "enabled" boolean not null default true, "approved" boolean not null default false, "auth_mode" varchar(16) not null, "auth_secret_ciphertext" text not null default '', "defer_loading" varchar(16) not null, "blocked_tools" jsonb not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "mcp_servers_pkey" primary key ("id"));`);
    this.addSql(`create index "mcp_servers_workspace_id_index" on "mcp_servers" ("workspace_id");`);
    this.addSql(`create index "mcp_servers_gateway_id_index" on "mcp_servers" ("gateway_id");`);
    this.addSql(`alter table "mcp_servers" add constraint "mcp_servers_gateway_id_name_unique" unique ("gateway_id", "name");`);

    this.addSql(`create table "models" ("id" varchar(40) not null, "workspace_id" varchar(40) not null, "provider_id" varchar(40) not null, "name" varchar(255) not null, "enabled" boolean not null default true, "price" jsonb null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "models_pkey" primary key ("id"));`);
    this.addSql(`create index "models_workspace_id_index" on "models" ("workspace_id");`);
    this.addSql(`create index "models_provider_id_index" on "models" ("provider_id");`);
    this.addSql(`alter table "models" add constraint "models_provider_id_name_unique" unique ("provider_id", "name");`);

    this.addSql(`create table "providers" ("id" varchar(40) not null, "workspace_id" varchar(40) not null, "name" varchar(63) not null, "type" varchar(32) not null, "base_url" varchar(2048) not null default '', "enabled" boolean not null default true, "timeout_ms" int not null default 0, "record_bodies" boolean not null default false, "azure_api_version" varchar(64) not null default '', "mock_latency_ms" int not null default 0, "mock_completion_tokens" int not null default 0, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "providers_pkey" primary key ("id"));`);
    this.addSql(`create index "providers_workspace_id_index" on "providers" ("workspace_id");`);
    this.addSql(`alter table "providers" add constraint "providers_workspace_id_name_unique" unique ("workspace_id", "name");`);

    this.addSql(`create table "provider_credentials" ("id" varchar(40) not null, "workspace_id" varchar(40) not null, "provider_id" varchar(40) not null, "name" varchar(63) not null default '', "kind" varchar(16) not null, "env_var" varchar(255) not null default '', "ciphertext" text not null default '', "hint" varchar(16) not null default '', "enabled" boolean not null default true, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "provider_credentials_pkey" primary key ("id"));`);
    this.addSql(`create index "provider_credentials_workspace_id_index" on "provider_credentials" ("workspace_id");`);
    this.addSql(`create index "provider_credentials_provider_id_index" on "provider_credentials" ("provider_id");`);

    this.addSql(`create table "rate_limits" ("id" varchar(40) not null, "workspace_id" varchar(40) not null, "gateway_id" varchar(40) not null, "name" varchar(63) not null, "unit" varchar(16) not null, "limit" bigint not null, "window" varchar(16) not null, "burst" bigint not null default 0, "scope" jsonb not null, "on_store_failure" varchar(16) not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "rate_limits_pkey" primary key ("id"));`);
    this.addSql(`create index "rate_limits_workspace_id_index" on "rate_limits" ("workspace_id");`);
    this.addSql(`create index "rate_limits_gateway_id_index" on "rate_limits" ("gateway_id");`);
    this.addSql(`alter table "rate_limits" add constraint "rate_limits_gateway_id_name_unique" unique ("gateway_id", "name");`);

    this.addSql(`create table "routes" ("id" varchar(40) not null, "workspace_id" varchar(40) not null, "gateway_id" varchar(40) not null, "name" varchar(63) not null, "priority" int not null default 0, "condition" text not null default '', "pool" jsonb not null, "fallbacks" jsonb not null, "enabled" boolean not null default true, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "routes_pkey" primary key ("id"));`);
    this.addSql(`create index "routes_workspace_id_index" on "routes" ("workspace_id");`);
    this.addSql(`create index "routes_gateway_id_index" on "routes" ("gateway_id");`);
    this.addSql(`alter table "routes" add constraint "routes_gateway_id_name_unique" unique ("gateway_id", "name");`);

    this.addSql(`create table "spend_limits" ("id" varchar(40) not null, "workspace_id" varchar(40) not null, "gateway_id" varchar(40) not null default '', "name" varchar(63) not null, "amount_micros" bigint not null, "period" varchar(16) not null, "enforcement" varchar(16) not null, "warn_at" double precision not null default 0, "scope" jsonb not null, "on_store_failure" varchar(16) not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "spend_limits_pkey" primary key ("id"));`);
    this.addSql(`create index "spend_limits_workspace_id_index" on "spend_limits" ("workspace_id");`);
    this.addSql(`alter table "spend_limits" add constraint "spend_limits_workspace_id_gateway_id_name_unique" unique ("workspace_id", "gateway_id", "name");`);

    this.addSql(`create table "workspaces" ("id" varchar(40) not null, "name" varchar(63) not null, "display_name" varchar(200) not null default '', "description" text not null default '', "log_retention_days" int not null default 0, "created_at" timestamptz not null, "updated_at" timestamptz not null, constraint "workspaces_pkey" primary key ("id"));`);
    this.addSql(`alter table "workspaces" add constraint "workspaces_name_unique" unique ("name");`);
  }

  override async down(): Promise<void> {
    this.addSql(`drop table if exists "admin_tokens" cascade;`);

    this.addSql(`drop table if exists "api_keys" cascade;`);

    this.addSql(`drop table if exists "config_state" cascade;`);

    this.addSql(`drop table if exists "gateways" cascade;`);

    this.addSql(`drop table if exists "mcp_servers" cascade;`);

    this.addSql(`drop table if exists "models" cascade;`);

    this.addSql(`drop table if exists "providers" cascade;`);

    this.addSql(`drop table if exists "provider_credentials" cascade;`);

    this.addSql(`drop table if exists "rate_limits" cascade;`);

    this.addSql(`drop table if exists "routes" cascade;`);

    this.addSql(`drop table if exists "spend_limits" cascade;`);

    this.addSql(`drop table if exists "workspaces" cascade;`);
  }

}
