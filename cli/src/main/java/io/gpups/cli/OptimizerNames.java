package io.gpups.cli;

import io.gpups.core.optim.OptimizerSpec.OptimizerKind;

import java.util.Arrays;
import java.util.Iterator;

/** The names {@code --optimizer} accepts, read from the kind table: picocli's {@code ${COMPLETION-CANDIDATES}}. */
public final class OptimizerNames implements Iterable<String> {

    @Override
    public Iterator<String> iterator() {
        return Arrays.stream(OptimizerKind.values()).map(OptimizerKind::cliName).iterator();
    }
}
