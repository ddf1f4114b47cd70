import { Migration } from '@mikro-orm/migrations';

export class Migration20261201093950_initial extends Migration {

  override async up(): Promise<void> {
    this.addSql(`create table \`admin_tokens\` (\`id\` text not null, \`workspace_id\` text null, \`name\` text not null, \`prefix\` text not null, \`hash\` text not null, \`expires_at\` datetime null, \`revoked_at\` datetime null, \`created_at\` datetime not null, \`updated_at\` datetime not null, primary key (\`id\`));`);
    this.addSql(`create index \`admin_tokens_workspace_id_index\` on \`admin_tokens\` (\`workspace_id\`);`);
    this.addSql(`create unique index \`admin_tokens_hash_unique\` on \`admin_tokens\` (\`hash\`);`);

    this.addSql(`create table \`api_keys\` (\`id\` text not null, \`workspace_id\` text not null, \`name\` text not null, \`prefix\` text not null, \`hash\` text not null, \`metadata\` json not null, \`gateways\` json not null, \`default_gateway\` text not null default '', \`expires_at\` datetime null, \`revoked_at\` datetime null, \`created_at\` datetime not null, \`updated_at\` datetime not null, primary key (\`id\`));`);
    this.addSql(`create index \`api_keys_workspace_id_index\` on \`api_keys\` (\`workspace_id\`);`);
    this.addSql(`create unique index \`api_keys_hash_unique\` on \`api_keys\` (\`hash\`);`);
    this.addSql(`create unique index \`api_keys_workspace_id_name_unique\` on \`api_keys\` (\`workspace_id\`, \`name\`);`);

    this.addSql(`create table \`config_state\` (\`id\` integer not null primary key autoincrement, \`version\` bigint not null, \`updated_at\` datetime not null);`);

    this.addSql(`create table \`gateways\` (\`id\` text not null, \`workspace_id\` text not null, \`name\` text not null, \`description\` text not null default '', \`tags\` json not null, \`models\` json not null, \`model_selector\` text not null default '', \`mcp\` json not null, \`created_at\` datetime not null, \`updated_at\` datetime not null, primary key (\`id\`));`);
    this.addSql(`create index \`gateways_workspace_id_index\` on \`gateways\` (\`workspace_id\`);`);
    this.addSql(`create unique index \`gateways_workspace_id_name_unique\` on \`gateways\` (\`workspace_id\`, \`name\`);`);

    this.addSql(`create table \`mcp_servers\` (\`id\` text not null, \`workspace_id\` text not null, \`gateway_id\` text not null, \`name\` text not null, \`display_name\` text not null default '', \`transport\` text not null, \`url\` text not null default '', \`command\` text not null default '', \`args\` json not null, \`env_ciphertext\` text not null default '', \`env_names\` json not null, \`timeout_ms\` integer not null default 0, \`enabled\` integer not null default true, \`approved\` integer not null default false, \`auth_mode\` text not null, \`auth_secret_ciphertext\` text not null default '', \`defer_loading\` text not null, \`blocked_tools\` json not null, \`created_at\` datetime not null, \`updated_at\` datetime not null, primary key (\`id\`));`);
    this.addSql(`create index \`mcp_servers_workspace_id_index\` on \`mcp_servers\` (\`workspace_id\`);`);
    this.addSql(`create index \`mcp_servers_gateway_id_index\` on \`mcp_servers\` (\`gateway_id\`);`);
    this.addSql(`create unique index \`mcp_servers_gateway_id_name_unique\` on \`mcp_servers\` (\`gateway_id\`, \`name\`);`);

    this.addSql(`create table \`models\` (\`id\` text not null, \`workspace_id\` text not null, \`provider_id\` text not null, \`name\` text not null, \`enabled\` integer not null default true, \`price\` json null, \`created_at\` datetime not null, \`updated_at\` datetime not null, primary key (\`id\`));`);
    this.addSql(`create index \`models_workspace_id_index\` on \`models\` (\`workspace_id\`);`);
    this.addSql(`create index \`models_provider_id_index\` on \`models\` (\`provider_id\`);`);
    this.addSql(`create unique index \`models_provider_id_name_unique\` on \`models\` (\`provider_id\`, \`name\`);`);

    this.addSql(`create table \`providers\` (\`id\` text not null, \`workspace_id\` text not null, \`name\` text not null, \`type\` text not null, \`base_url\` text not null default '', \`enabled\` integer not null default true, \`timeout_ms\` integer not null default 0, \`record_bodies\` integer not null default false, \`azure_api_version\` text not null default '', \`mock_latency_ms\` integer not null default 0, \`mock_completion_tokens\` integer not null default 0, \`created_at\` datetime not null, \`updated_at\` datetime not null, primary key (\`id\`));`);
    this.addSql(`create index \`providers_workspace_id_index\` on \`providers\` (\`workspace_id\`);`);
    this.addSql(`create unique index \`providers_workspace_id_name_unique\` on \`providers\` (\`workspace_id\`, \`name\`);`);

    this.addSql(`create table \`provider_credentials\` (\`id\` text not null, \`workspace_id\` text not null, \`provider_id\` text not null, \`name\` text not null default '', \`kind\` text not null, \`env_var\` text not null default '', \`ciphertext\` text not null default '', \`hint\` text not null default '', \`enabled\` integer not null default true, \`created_at\` datetime not null, \`updated_at\` datetime not null, primary key (\`id\`));`);
    this.addSql(`create index \`provider_credentials_workspace_id_index\` on \`provider_credentials\` (\`workspace_id\`);`);
    this.addSql(`create index \`provider_credentials_provider_id_index\` on \`provider_credentials\` (\`provider_id\`);`);

    this.addSql(`create table \`rate_limits\` (\`id\` text not null, \`workspace_id\` text not null, \`gateway_id\` text not null, \`name\` text not null, \`unit\` text not null, \`limit\` bigint not null, \`window\` text not null, \`burst\` bigint not null default 0, \`scope\` json not null, \`on_store_failure\` text not null, \`created_at\` datetime not null, \`updated_at\` datetime not null, primary key (\`id\`));`);
    this.addSql(`create index \`rate_limits_workspace_id_index\` on \`rate_limits\` (\`workspace_id\`);`);
    this.addSql(`create index \`rate_limits_gateway_id_index\` on \`rate_limits\` (\`gateway_id\`);`);
    this.addSql(`create unique index \`rate_limits_gateway_id_name_unique\` on \`rate_limits\` (\`gateway_id\`, \`name\`);`);

    this.addSql(`create table \`routes\` (\`id\` text not null, \`workspace_id\` text not null, \`gateway_id\` text not null, \`name\` text not null, \`priority\` integer not null default 0, \`condition\` text not null default '', \`pool\` json not null, \`fallbacks\` json not null, \`enabled\` integer not null default true, \`created_at\` datetime not null, \`updated_at\` datetime not null, primary key (\`id\`));`);
    this.addSql(`create index \`routes_workspace_id_index\` on \`routes\` (\`workspace_id\`);`);
    this.addSql(`create index \`routes_gateway_id_index\` on \`routes\` (\`gateway_id\`);`);
    this.addSql(`create unique index \`routes_gateway_id_name_unique\` on \`routes\` (\`gateway_id\`, \`name\`);`);

    this.addSql(`create table \`spend_limits\` (\`id\` text not null, \`workspace_id\` text not null, \`gateway_id\` text not null default '', \`name\` text not null, \`amount_micros\` bigint not null, \`period\` text not null, \`enforcement\` text not null, \`warn_at\` double not null default 0, \`scope\` json not null, \`on_store_failure\` text not null, \`created_at\` datetime not null, \`updated_at\` datetime not null, primary key (\`id\`));`);
    this.addSql(`create index \`spend_limits_workspace_id_index\` on \`spend_limits\` (\`workspace_id\`);`);
    this.addSql(`create unique index \`spend_limits_workspace_id_gateway_id_name_unique\` on \`spend_limits\` (\`workspace_id\`, \`gateway_id\`, \`name\`);`);

    this.addSql(`create table \`workspaces\` (\`id\` text not null, \`name\` text not null, \`display_name\` text not null default '', \`description\` text not null default '', \`log_retention_days\` integer not null default 0, \`created_at\` datetime not null, \`updated_at\` datetime not null, primary key (\`id\`));`);
    this.addSql(`create unique index \`workspaces_name_unique\` on \`workspaces\` (\`name\`);`);
  }

}
