package io.gpups.server;

import io.gpups.core.protocol.Messages;
import io.gpups.core.tensor.ChunkLayout;
import io.gpups.core.tensor.TensorSpec;

import java.util.HashMap;
import java.util.Map;

/** A registered tensor: its definition and the chunks of it this shard holds. */
final class TensorState {

    final int id;
    final TensorSpec spec;
    final ChunkLayout layout;
    final Messages.Register registration;
    final Map<Integer, ChunkState> chunks = new HashMap<>();

    TensorState(int id, Messages.Register registration) {
        this.id = id;
        this.registration = registration;
        this.spec = registration.spec();
        this.layout = new ChunkLayout(spec.elements(), registration.chunkElements());
    }
}
