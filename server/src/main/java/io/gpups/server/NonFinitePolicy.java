package io.gpups.server;

import io.gpups.core.device.NonFiniteGuard;

import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * What a shard does with a push whose decoded gradient holds NaN or infinite values ({@code gpups server --nonfinite}).
 * Whatever the policy, no non-finite value reaches parameters, optimizer state or a bsp sum: the fused decode kernels
 * count such values as they go and guard every element ({@link NonFiniteGuard}). docs/PROTOCOL.md ("Non-finite
 * gradients") says exactly what each policy leaves behind under each consistency mode.
 */
public enum NonFinitePolicy {
    /**
     * The push is answered ERROR NON_FINITE and not counted: under bsp its worker has not pushed for the step (its
     * finite values are taken out of the step's sum again), under asp and ssp the chunk's elements with non-finite
     * gradients are left as they were.
     */
    REJECT("reject", NonFiniteGuard.SKIP),
    /** The push is answered OK and counted, and changes nothing: under bsp the worker has pushed, with no contribution. */
    SKIP_STEP("skip-step", NonFiniteGuard.SKIP),
    /** Non-finite values count as 0 and the push goes on as any other: answered OK, applied, counted. */
    ZERO("zero", NonFiniteGuard.ZERO);

    /** The name on the command line. */
    public final String cliName;
    /** What the fused decode does with an element whose gradient is not finite. */
    public final NonFiniteGuard guard;

    NonFinitePolicy(String cliName, NonFiniteGuard guard) {
        this.cliName = cliName;
        this.guard = guard;
    }

    /** The policy named {@code text}; an error naming the value and the accepted names otherwise. */
    public static NonFinitePolicy parse(String text) {
        for (NonFinitePolicy p : values()) {
            if (p.cliName.equals(text)) {
                return p;
            }
        }
        throw new IllegalArgumentException("--nonfinite must be one of "
                + Arrays.stream(values()).map(p -> p.cliName).collect(Collectors.joining(", ")) + "; got '" + text + "'");
    }

    @Override
    public String toString() {
        return cliName;
    }
}
