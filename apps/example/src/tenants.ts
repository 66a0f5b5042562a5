import type { Scope } from '@active-runs/core';

/** A project of a demo workspace. */
export interface DemoProject {
  readonly id: string;
  readonly name: string;
}

/** A workspace a visitor can sign in as (the demo login has no passwords). */
export interface DemoWorkspace {
  readonly id: string;
  readonly name: string;
  readonly projects: readonly DemoProject[];
}

/**
 * The demo's tenants. The simulator drives traffic into every project but `bulk`, which
 * `--seed N` fills with N runs at once to show that paging stays instant.
 */
export const DEMO_WORKSPACES: readonly DemoWorkspace[] = [
  {
    id: 'acme',
    name: 'Acme',
    projects: [
      { id: 'assistant', name: 'Assistant' },
      { id: 'support', name: 'Support bot' },
      { id: 'bulk', name: 'Bulk (--seed)' },
    ],
  },
  {
    id: 'globex',
    name: 'Globex',
    projects: [
      { id: 'chat', name: 'Chat' },
      { id: 'evals', name: 'Evals' },
    ],
  },
  {
    id: 'initech',
    name: 'Initech',
    projects: [{ id: 'reports', name: 'Reports' }],
  },
];

/** Where `--seed N` loads its runs. */
export const SEED_SCOPE: Scope = { workspaceId: 'acme', projectId: 'bulk' };

/** The scopes the simulator's live traffic goes to. */
export function simulatedScopes(): Scope[] {
  return DEMO_WORKSPACES.flatMap((workspace) =>
    workspace.projects
      .filter((project) => project.id !== SEED_SCOPE.projectId)
      .map((project) => ({ workspaceId: workspace.id, projectId: project.id })),
  );
}

/** The demo workspace with this id, if there is one. */
export function findWorkspace(id: string): DemoWorkspace | undefined {
  return DEMO_WORKSPACES.find((workspace) => workspace.id === id);
}
