package io.gpups.cli;

import io.gpups.server.NonFinitePolicy;
import picocli.CommandLine.Option;

import java.util.List;

/** {@code --nonfinite}: what a shard does with pushes whose gradients hold NaN or infinite values. */
final class NonFiniteOptions {

    @Option(names = "--nonfinite", defaultValue = "reject", paramLabel = "reject|skip-step|zero",
            description = "Pushes whose decoded gradient holds NaN or infinite values. reject: answered ERROR "
                    + "NON_FINITE (naming tensor, chunk, rank, step and how many values) and not counted; under bsp the "
                    + "worker has not pushed for the step. skip-step: answered OK, counted, changes nothing; under bsp "
                    + "the worker has pushed, with no contribution to the step's mean. zero: the non-finite values count "
                    + "as 0 and the push is applied. Whatever the policy, no NaN or infinity reaches parameters, "
                    + "optimizer state or a bsp sum; such pushes are counted (STATS nonfinite_pushes, "
                    + "gpups_nonfinite_pushes_total) and logged once per worker per minute. Under asp and ssp (and bsp "
                    + "with one worker), reject and skip-step leave the finite values of a partly non-finite push "
                    + "applied: see docs/PROTOCOL.md (default: ${DEFAULT-VALUE}).")
    String policy;

    /** The policy named; an IllegalArgumentException naming the bad value and the accepted ones. */
    NonFinitePolicy policy() {
        return NonFinitePolicy.parse(policy);
    }

    /** The option as {@code gpups server} arguments, for child shard processes. */
    List<String> asArgs() {
        return List.of("--nonfinite", policy().cliName);
    }
}
