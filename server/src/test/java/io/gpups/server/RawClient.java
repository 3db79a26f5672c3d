package io.gpups.server;

import io.gpups.core.protocol.ErrorCode;
import io.gpups.core.protocol.Frame;
import io.gpups.core.protocol.Frames;
import io.gpups.core.protocol.Message;
import io.gpups.core.protocol.Messages;
import io.gpups.core.protocol.Opcode;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;

import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketTimeoutException;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A blocking test client over a plain socket: sends whatever bytes a test wants, reads whole frames. */
final class RawClient implements AutoCloseable {

    private final Socket socket;
    private final OutputStream out;
    private final DataInputStream in;
    private long nextId = 1;

    RawClient(int port) throws IOException {
        socket = new Socket("127.0.0.1", port);
        socket.setSoTimeout(10_000);
        socket.setTcpNoDelay(true);
        out = socket.getOutputStream();
        in = new DataInputStream(socket.getInputStream());
    }

    /** An answer: its opcode byte, request id and payload. */
    record Answer(int opcode, long requestId, ByteBuf payload) {
        Messages.ErrorReply error() {
            assertEquals(Opcode.ERROR.code, opcode, "expected an ERROR answer");
            return Messages.ErrorReply.read(payload.duplicate());
        }
    }

    void sendBytes(byte[] bytes) throws IOException {
        out.write(bytes);
        out.flush();
    }

    void send(ByteBuf frame) throws IOException {
        byte[] bytes = new byte[frame.readableBytes()];
        frame.readBytes(bytes);
        frame.release();
        sendBytes(bytes);
    }

    long send(Opcode op, Message message) throws IOException {
        long id = nextId++;
        send(message == null ? Frames.empty(ByteBufAllocator.DEFAULT, op, id) : Frames.encode(ByteBufAllocator.DEFAULT, op, id, message));
        return id;
    }

    long push(Opcode op, Messages.PushHeader h, float[] values) throws IOException {
        long id = nextId++;
        ByteBuf body = Unpooled.buffer(4 * values.length);
        for (float v : values) {
            body.writeFloatLE(v);
        }
        send(Frames.encodeWithBody(ByteBufAllocator.DEFAULT, op, id, h, body));
        return id;
    }

    long pushRaw(Opcode op, Messages.PushHeader h, ByteBuf payload) throws IOException {
        long id = nextId++;
        send(Frames.encodeWithBody(ByteBufAllocator.DEFAULT, op, id, h, payload));
        return id;
    }

    /** Reads the next answer and checks it answers {@code requestId}. */
    Answer read(long requestId) throws IOException {
        Answer a = read();
        assertEquals(requestId, a.requestId());
        return a;
    }

    Answer read() throws IOException {
        int length = Integer.reverseBytes(in.readInt());
        byte[] rest = new byte[length];
        in.readFully(rest);
        ByteBuf buf = Unpooled.wrappedBuffer(rest);
        assertEquals(Frame.MAGIC, buf.readShortLE());
        assertEquals(Frame.VERSION, buf.readByte());
        int op = buf.readUnsignedByte();
        long id = buf.readLongLE();
        return new Answer(op, id, buf);
    }

    Answer call(Opcode op, Message message) throws IOException {
        long id = send(op, message);
        Answer a = read();
        assertEquals(id, a.requestId());
        return a;
    }

    /** Asserts the answer is an ERROR with {@code code} whose message contains {@code fragment}. */
    static void assertError(Answer a, ErrorCode code, String fragment) {
        Messages.ErrorReply err = a.error();
        assertEquals(code, err.code(), err.message());
        assertTrue(err.message().contains(fragment), "message '" + err.message() + "' lacks '" + fragment + "'");
    }

    /** True when the server closed the connection (EOF) within the socket timeout. */
    boolean closedByPeer() throws IOException {
        try {
            while (in.read() != -1) {
                // drain whatever answers came before the close
            }
            return true;
        } catch (EOFException e) {
            return true;
        } catch (SocketTimeoutException e) {
            return false;
        } catch (IOException e) {
            return true; // connection reset
        }
    }

    float[] pull(int tensorId, int chunk, long clock) throws IOException {
        Answer a = call(Opcode.PULL, new Messages.Pull(tensorId, chunk, clock));
        assertEquals(Opcode.DATA.code, a.opcode(), () -> a.opcode() == Opcode.ERROR.code ? a.error().message() : "not DATA");
        Messages.PullReplyHeader h = Messages.PullReplyHeader.read(a.payload());
        float[] v = new float[h.count()];
        for (int i = 0; i < v.length; i++) {
            v[i] = a.payload().readFloatLE();
        }
        return v;
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
