package io.gpups.core.protocol;

import io.netty.buffer.ByteBuf;

/** A payload layout that knows its size and writes itself. */
public interface Message {

    int encodedLength();

    void writeTo(ByteBuf out);
}
