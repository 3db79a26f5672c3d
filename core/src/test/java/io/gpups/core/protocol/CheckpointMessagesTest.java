package io.gpups.core.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** CHECKPOINT and its answer: exact bytes, round trips, and names that could leave the checkpoint directory. */
class CheckpointMessagesTest {

    private static ByteBuf encode(Message m) {
        ByteBuf b = Unpooled.buffer();
        m.writeTo(b);
        assertEquals(m.encodedLength(), b.readableBytes());
        return b;
    }

    @Test
    void checkpointBytes() {
        ByteBuf b = encode(new Messages.Checkpoint("v1.a"));
        // u16 length 4, then the name
        assertEquals("0400" + "76312e61", ByteBufUtil.hexDump(b));
        assertEquals(new Messages.Checkpoint("v1.a"), Messages.Checkpoint.read(b));
        assertEquals(new Messages.Checkpoint(""), Messages.Checkpoint.read(encode(new Messages.Checkpoint(""))));
    }

    @Test
    void checkpointReplyBytes() {
        ByteBuf b = encode(new Messages.CheckpointReply(6, 7, Messages.CheckpointReply.WRITTEN, 1000, "ckpt-x-2shards"));
        assertEquals("0600000000000000" + "07000000" + "01000000" + "e803000000000000" + "0e00"
                + ByteBufUtil.hexDump("ckpt-x-2shards".getBytes(StandardCharsets.UTF_8)), ByteBufUtil.hexDump(b));
        assertEquals(new Messages.CheckpointReply(6, 7, 1, 1000, "ckpt-x-2shards"), Messages.CheckpointReply.read(b));
    }

    private static ProtocolException bad(byte[] payload) {
        return assertThrows(ProtocolException.class, () -> Messages.Checkpoint.read(Unpooled.wrappedBuffer(payload)));
    }

    @Test
    void badNamesAreRefused() {
        for (String name : new String[] {"../up", "a/b", ".hidden", "sp ace", "é"}) {
            byte[] utf8 = name.getBytes(StandardCharsets.UTF_8);
            byte[] payload = new byte[2 + utf8.length];
            payload[0] = (byte) utf8.length;
            System.arraycopy(utf8, 0, payload, 2, utf8.length);
            ProtocolException e = bad(payload);
            assertEquals(ErrorCode.BAD_ARGUMENT, e.code(), name);
        }
        assertEquals(ErrorCode.BAD_FRAME, bad(new byte[] {5, 0, 'a'}).code(), "name shorter than announced");
        assertEquals(ErrorCode.BAD_FRAME, bad(new byte[] {1}).code(), "truncated length");
        byte[] longName = new byte[2 + 129];
        longName[0] = (byte) 129;
        java.util.Arrays.fill(longName, 2, longName.length, (byte) 'a');
        assertTrue(bad(longName).getMessage().contains("at most 128"));
    }
}
