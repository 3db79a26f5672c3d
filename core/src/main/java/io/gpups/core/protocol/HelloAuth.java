package io.gpups.core.protocol;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;

/**
 * Shared-secret authentication in HELLO, by challenge and response: the shard sends 32 random bytes, fresh
 * for each connection and good for one attempt; the client answers HMAC-SHA256(secret, "gpups-hello-v1" ||
 * challenge || rank). The secret never crosses the wire, and a proof seen on one connection is worthless on
 * another (its challenge differs).
 */
public final class HelloAuth {

    private static final byte[] CONTEXT = "gpups-hello-v1".getBytes(StandardCharsets.US_ASCII);
    private static final SecureRandom RANDOM = new SecureRandom();

    private final byte[] secret;

    private HelloAuth(byte[] secret) {
        if (secret.length < 16) {
            throw new IllegalArgumentException("auth token must be at least 16 bytes, got " + secret.length);
        }
        this.secret = secret.clone();
    }

    public static HelloAuth ofSecret(byte[] secret) {
        return new HelloAuth(secret);
    }

    /** The secret in a token file: its bytes, without surrounding whitespace. */
    public static HelloAuth fromFile(Path file) {
        try {
            String text = Files.readString(file, StandardCharsets.UTF_8).strip();
            if (text.isEmpty()) {
                throw new IllegalArgumentException("auth token file " + file + " is empty");
            }
            return new HelloAuth(text.getBytes(StandardCharsets.UTF_8));
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException("cannot read auth token file " + file + ": " + e.getMessage());
        }
    }

    public static byte[] newChallenge() {
        byte[] c = new byte[Messages.Hello.PROOF_BYTES];
        RANDOM.nextBytes(c);
        return c;
    }

    public byte[] proof(byte[] challenge, int rank) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(secret, "HmacSHA256"));
            mac.update(CONTEXT);
            mac.update(challenge);
            mac.update(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(rank).array());
            return mac.doFinal();
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 unavailable", e);
        }
    }

    /** Constant-time check of a proof against the challenge this connection was given. */
    public boolean verify(byte[] challenge, int rank, byte[] proof) {
        return challenge != null && proof != null && MessageDigest.isEqual(proof(challenge, rank), proof);
    }
}
