package io.gpups.core.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.ChannelConfig;
import io.netty.channel.RecvByteBufAllocator;
import io.netty.util.UncheckedBooleanSupplier;

/**
 * A channel's read buffers, from its usual allocator except while a large frame is arriving: then each read goes
 * straight into the free tail of the buffer that receives the frame ({@link FrameDecoder#readTarget()}), which
 * saves copying every byte of it out of a read buffer. Installed by {@link FrameDecoder#readDirectly}.
 */
final class FrameReadAllocator implements RecvByteBufAllocator {

    private final RecvByteBufAllocator delegate;
    private final FrameDecoder decoder;

    FrameReadAllocator(RecvByteBufAllocator delegate, FrameDecoder decoder) {
        this.delegate = delegate;
        this.decoder = decoder;
    }

    @Override
    public Handle newHandle() {
        Handle handle = delegate.newHandle();
        if (!(handle instanceof ExtendedHandle extended)) {
            throw new IllegalStateException("the channel's read allocator " + delegate + " has no extended handle");
        }
        return new ReadHandle(extended);
    }

    /** The usual handle, but for where a read's bytes go. */
    private final class ReadHandle implements ExtendedHandle {
        private final ExtendedHandle handle;

        ReadHandle(ExtendedHandle handle) {
            this.handle = handle;
        }

        @Override
        public ByteBuf allocate(ByteBufAllocator alloc) {
            ByteBuf target = decoder.readTarget();
            return target != null ? target : handle.allocate(alloc);
        }

        @Override
        public int guess() {
            return handle.guess();
        }

        @Override
        public void reset(ChannelConfig config) {
            handle.reset(config);
        }

        @Override
        public void incMessagesRead(int numMessages) {
            handle.incMessagesRead(numMessages);
        }

        @Override
        public void lastBytesRead(int bytes) {
            handle.lastBytesRead(bytes);
        }

        @Override
        public int lastBytesRead() {
            return handle.lastBytesRead();
        }

        @Override
        public void attemptedBytesRead(int bytes) {
            handle.attemptedBytesRead(bytes);
        }

        @Override
        public int attemptedBytesRead() {
            return handle.attemptedBytesRead();
        }

        @Override
        public boolean continueReading() {
            return handle.continueReading();
        }

        @Override
        public boolean continueReading(UncheckedBooleanSupplier maybeMoreDataSupplier) {
            return handle.continueReading(maybeMoreDataSupplier);
        }

        @Override
        public void readComplete() {
            handle.readComplete();
        }
    }
}
