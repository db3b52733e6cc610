// Modules evaluated once per worker and shared by every workflow in its reusable V8 context
// (bundle.ts passes this file as `preloadModules`). Without it each workflow evaluates zod anew,
// which costs heap for every cached workflow.
import { z } from 'zod';

// Shared modules are deep-frozen once this file has run. zod sets some module-level state lazily
// (its default locale, its memoizer, whether eval is allowed), so one parse sets all of it now,
// while it still can.
z.object({ warm: z.string().min(1).optional() }).parse({ warm: 'up' });

export const sharedZod = z;
