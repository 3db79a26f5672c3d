package io.gpups.server;

import io.gpups.core.device.NonFiniteGuard;
import io.gpups.core.protocol.ErrorCode;
import io.gpups.core.protocol.ProtocolException;

/**
 * A shard's handling of pushes whose decoded gradients hold NaN or infinite values: the policy, the counters and the
 * rate-limited log. The agent thread asks the fused decode for the count and calls {@link #found} when it is not 0.
 */
final class NonFinitePushes {

    private final NonFinitePolicy policy;
    private final ShardCounters counters;
    private final NonFiniteLog log;

    NonFinitePushes(NonFinitePolicy policy, ShardCounters counters, NonFiniteLog log) {
        if (policy == null) {
            throw new IllegalArgumentException("non-finite policy is null");
        }
        this.policy = policy;
        this.counters = counters;
        this.log = log;
    }

    NonFinitePolicy policy() {
        return policy;
    }

    /** What the fused decode does with a non-finite element under this policy. */
    NonFiniteGuard guard() {
        return policy.guard;
    }

    /** Whether a push with non-finite values leaves no contribution (reject and skip-step; zero adds 0 for them). */
    boolean dropsContribution() {
        return policy != NonFinitePolicy.ZERO;
    }

    /**
     * Counts and logs one push of {@code total} values of which {@code nonFinite} were NaN or infinite; returns the
     * error to answer it with under reject, null under the other policies (the push is answered OK).
     */
    ProtocolException found(String opcode, String tensor, int chunk, int rank, long step, long nonFinite, int total) {
        counters.recordNonFinite(nonFinite);
        String what = opcode + " to '" + tensor + "' chunk " + chunk + " from rank " + rank + " for step " + step + ": "
                + nonFinite + " of " + total + " gradient values are NaN or infinite";
        return answer(rank, what);
    }

    /**
     * As {@link #found} for a PUSH_ROWS to {@code table}, applied on arrival with {@link #guard()}: under reject and
     * skip-step the rows' elements with non-finite gradients were left as they were, under zero they took a zero
     * gradient.
     */
    ProtocolException foundInRows(String table, int rank, long step, long nonFinite, long total) {
        counters.recordNonFinite(nonFinite);
        return answer(rank, "PUSH_ROWS to table '" + table + "' from rank " + rank + " for step " + step + ": "
                + nonFinite + " of " + total + " gradient values are NaN or infinite");
    }

    private ProtocolException answer(int rank, String what) {
        String outcome = switch (policy) {
            case REJECT -> "refused (--nonfinite reject): not applied, not counted for the step";
            case SKIP_STEP -> "skipped (--nonfinite skip-step): answered OK, changes nothing";
            case ZERO -> "zeroed (--nonfinite zero): those values count as 0";
        };
        log.push(rank, what + "; " + outcome);
        return policy == NonFinitePolicy.REJECT ? new ProtocolException(ErrorCode.NON_FINITE, what + "; " + outcome) : null;
    }
}
