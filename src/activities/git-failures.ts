// git's failures as the typed failures activities throw: what git printed, redacted (the remote
// is in its errors, and a repo that bypassed validation may carry credentials), and whether
// retrying can help (a refused transport or refused credentials cannot, nor a repo missing at admission).
import { failure, retryableFailure } from '../failures';
import { redact } from '../redact';
import { GitError } from './git-process';

// Messages git prints when the remote itself is wrong, not when the network hiccups:
// retrying those only delays the answer. (A refused connection, a timeout or a 5xx is retried.)
const NO_SUCH_REPO =
  /does not appear to be a git repository|repository .*not found|No such file or directory|Could not resolve host|returned error: 404/i;
/** git refused the transport (GIT_ALLOW_PROTOCOL) or has no helper for it. */
const PROTOCOL_REFUSED =
  /transport '[^']*' not allowed|protocol '[^']*' is not supported|unable to find remote helper|remote-[^ ]* is not a git command/i;
/** The remote refused the worker's credentials: retrying sends the same ones. */
const AUTH_REFUSED =
  /authentication failed|permission denied|could not read (?:username|password)|terminal prompts disabled|host key verification failed|returned error: 40[13]/i;

/**
 * Text about a remote with every credential shape masked: URL user info, scp-style
 * `user:password@`, a query (`?access_token=…`), and whatever `redact` knows. Git prints the
 * remote in its errors, and a repo that bypassed validation may carry any of these.
 */
export function redactGitText(text: string): string {
  return redact(
    text
      .replace(/([a-z][a-z0-9+.-]*:\/\/)[^\s/'"]*@/gi, '$1[REDACTED]@')
      .replace(/(^|[\s'"(])([^\s'"/:@]+):[^\s'"/@]+@/g, '$1$2:[REDACTED]@')
      .replace(/([a-z][a-z0-9+.-]*:\/\/[^\s?#'"]*)[?#][^\s'"]*/gi, '$1?[REDACTED]'),
  );
}

/** The first line of git's complaint, redacted: enough to act on, never a credential. */
export function gitComplaint(err: GitError): string {
  return redactGitText(
    err.stderr
      .trim()
      .split('\n')
      .find((line) => line.trim() !== '') ?? err.message,
  ).slice(0, 300);
}

/**
 * A GitError from a call that talks to `repo` as a typed failure. Refusals retrying cannot fix
 * (transport not allowed, credentials refused, and at admission no such repo) are non-retryable
 * `refusal`s (the request's fault at admission, RepoUnreachable later); anything else (network,
 * timeout, the git runner gone, a repo gone since admission) is a retryable RepoUnreachable, so
 * the activity's bounded policy decides and the workflow still ends typed. Typed failures pass through.
 */
export function remoteFailure(
  err: unknown,
  repo: string,
  refusal: 'InvalidPromotionRequest' | 'RepoUnreachable',
): unknown {
  if (!(err instanceof GitError)) return err;
  const shown = redactGitText(repo);
  const complaint = gitComplaint(err);
  const field = refusal === 'InvalidPromotionRequest' ? 'repo: ' : '';
  if (PROTOCOL_REFUSED.test(err.stderr)) {
    return failure(
      refusal,
      `${field}git refused the transport of ${shown} (${complaint}); only absolute paths, file://, https:// and ssh:// remotes are allowed`,
    );
  }
  if (AUTH_REFUSED.test(err.stderr)) {
    return failure(
      refusal,
      `${field}${shown} refused access (${complaint}); fix the worker's git credentials (credential helper, SSH key) or file permissions`,
    );
  }
  // At admission a repo git cannot find is the request's mistake. Later it was there a moment
  // ago (admission read it): a moved mount, a repo being renamed, a host briefly unresolvable.
  // That is an outage, retried by the activity's bounded policy like any other.
  if (NO_SUCH_REPO.test(err.stderr)) {
    return refusal === 'InvalidPromotionRequest'
      ? failure(
          refusal,
          `${field}cannot read ${shown} (${complaint}); check the path or URL and the worker's git credentials`,
        )
      : retryableFailure(
          'RepoUnreachable',
          `cannot read ${shown} (${complaint}), which was readable when the promotion was admitted; retried a few times before it gives up`,
        );
  }
  return retryableFailure(
    'RepoUnreachable',
    `could not reach ${shown} (${complaint}); a network or server problem, retried a few times before the promotion gives up`,
  );
}

/** Runs `work`, turning GitErrors from talking to `repo` into typed failures (see remoteFailure). */
export async function typedGit<T>(
  repo: string,
  refusal: 'InvalidPromotionRequest' | 'RepoUnreachable',
  work: () => Promise<T>,
): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw remoteFailure(err, repo, refusal);
  }
}
