// The workflows this worker registers.
export { promotionWorkflow } from './promotion';
export { rollbackWorkflow } from './rollback';
export { targetLockWorkflow } from './lock/lock-workflow';
