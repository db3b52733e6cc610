// Signals, updates, queries and search attributes: the promotion's public surface.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery } from '@temporalio/workflow';
import type { PromotionStatus, RollbackStatus } from '../domain';

export const statusQuery = defineQuery<PromotionStatus>('status');

export const ReleaseIdKey = defineSearchAttributeKey('ReleaseId', SearchAttributeType.KEYWORD);
export const ReleaseStageKey = defineSearchAttributeKey('ReleaseStage', SearchAttributeType.KEYWORD);
export const CommitShaKey = defineSearchAttributeKey('CommitSha', SearchAttributeType.KEYWORD);
export const ChangeClassKey = defineSearchAttributeKey('ChangeClass', SearchAttributeType.KEYWORD);
export const ReleaseEnvironmentKey = defineSearchAttributeKey('ReleaseEnvironment', SearchAttributeType.KEYWORD);

/** Every search attribute the workflows upsert; the worker refuses to start without them. */
export const SEARCH_ATTRIBUTE_KEYS = [ReleaseIdKey, ReleaseStageKey, CommitShaKey, ChangeClassKey, ReleaseEnvironmentKey];

/** The same query name as a promotion's, so `temporal workflow query --type status` works on both. */
export const rollbackStatusQuery = defineQuery<RollbackStatus>('status');
