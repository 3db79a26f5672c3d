package io.gpups.core.protocol;

/** The operation a frame carries. Requests have the high bit clear, answers have it set. */
public enum Opcode {
    HELLO(0x01),
    REGISTER(0x02),
    PUSH(0x03),
    PULL(0x04),
    PUSH_PULL(0x05),
    CLOCK(0x06),
    STATS(0x07),
    CHECKPOINT(0x08),
    SHUTDOWN(0x09),
    HEARTBEAT(0x0A),
    RING_ATTACH(0x0B),
    RING_FRAME(0x0C),
    REGISTER_TABLE(0x0D),
    PULL_ROWS(0x0E),
    PUSH_ROWS(0x0F),
    OK(0x80),
    DATA(0x81),
    ERROR(0x82);

    public final int code;

    private static final Opcode[] BY_CODE = new Opcode[256];

    static {
        for (Opcode op : values()) {
            BY_CODE[op.code] = op;
        }
    }

    Opcode(int code) {
        this.code = code;
    }

    /** The opcode for a wire byte, or {@code null} when the byte names none. */
    public static Opcode ofCode(int code) {
        return code >= 0 && code < 256 ? BY_CODE[code] : null;
    }

    public boolean isRequest() {
        return code < 0x80;
    }
}
