import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { create } from '@bufbuild/protobuf';
import { FieldMaskSchema } from '@bufbuild/protobuf/wkt';
import { CreateWorkspaceRequestSchema, UpdateWorkspaceRequestSchema } from '../gen/sluice/v1/workspace_pb.js';
import { SluiceError } from '../errors.js';
import { createTestDeps, DIALECTS, workspaceCall, type TestDeps } from '../../test/helpers/database.js';
import { createWorkspaceService } from './workspace-service.js';

describe.each(DIALECTS)('WorkspaceService on %s', (dialect) => {
  let t: TestDeps;
  beforeAll(async () => {
    t = await createTestDeps(dialect);
  });
  afterAll(async () => t?.close());

  it('creates, updates with a mask, and rejects bad input naming the field', async () => {
    const svc = createWorkspaceService(t.deps);
    const { workspace } = await svc.createWorkspace(create(CreateWorkspaceRequestSchema, { workspace: { name: 'acme', displayName: 'Acme' } }), t.root);
    expect(workspace?.name).toBe('acme');
    const bad = await svc
      .createWorkspace(create(CreateWorkspaceRequestSchema, { workspace: { name: 'Not A Slug' } }), t.root)
      .catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(SluiceError);
    expect((bad as SluiceError).kind).toBe('invalid_argument');
    expect((bad as SluiceError).violations.map((v) => v.field)).toEqual(['workspace.name']);
    const updated = await svc.updateWorkspace(
      create(UpdateWorkspaceRequestSchema, {
        workspace: { id: workspace!.id!, description: 'new', displayName: 'ignored' },
        updateMask: create(FieldMaskSchema, { paths: ['description'] }),
      }),
      t.root,
    );
    expect(updated.workspace?.description).toBe('new');
    expect(updated.workspace?.displayName).toBe('Acme');
  });

  it('hides other workspaces from a workspace token', async () => {
    const svc = createWorkspaceService(t.deps);
    const a = (await svc.createWorkspace(create(CreateWorkspaceRequestSchema, { workspace: { name: 'ws-a' } }), t.root)).workspace!;
    const b = (await svc.createWorkspace(create(CreateWorkspaceRequestSchema, { workspace: { name: 'ws-b' } }), t.root)).workspace!;
    const asA = workspaceCall(a.id!);
    const err = await svc.getWorkspace({ id: b.id!, $typeName: 'sluice.v1.GetWorkspaceRequest' }, asA).catch((e: SluiceError) => e);
    expect((err as SluiceError).kind).toBe('not_found');
    const list = await svc.listWorkspaces({ $typeName: 'sluice.v1.ListWorkspacesRequest', pageSize: 0, pageToken: '', name: '', query: '' }, asA);
    expect(list.workspaces?.map((w) => w.name)).toEqual(['ws-a']);
  });
});
