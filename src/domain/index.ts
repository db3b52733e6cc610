// The domain's one import path (`../domain`): schemas and types of what crosses a boundary.
// Each concern has its own file; this only gathers them. Workflow-safe, as every file here is.
export * from './approval-decision';
export * from './base-url';
export * from './fields';
export * from './repo-location';
export * from './request';
export * from './status';
