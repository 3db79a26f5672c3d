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
import java.util.Arrays;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Secret-based authentication in HELLO, by challenge and response: the shard sends 32 random bytes, fresh
 * for each connection and good for one attempt; the client answers HMAC-SHA256(secret, "gpups-hello-v1" ||
 * challenge || rank). The secret never crosses the wire, and a proof seen on one connection is worthless on
 * another (its challenge differs).
 *
 * <p>Two kinds of token file:
 * <pre>
 * one shared secret            the whole file (surrounding whitespace stripped); every rank and the admin
 *                              (rank -1) prove with it, so any holder may be any rank and is an admin
 * per-rank secrets             every non-blank line, except # comments, is RANK:SECRET (RANK 0..) or
 *   0:...                      admin:SECRET; rank r proves with its own line, the admin (rank -1) with
 *   1:...                      the admin line, so a proof binds its rank: rank 0's secret does not make
 *   admin:...                  a connection rank 1. A worker's file may hold only its own line.
 * </pre>
 */
public final class HelloAuth {

    private static final byte[] CONTEXT = "gpups-hello-v1".getBytes(StandardCharsets.US_ASCII);
    private static final SecureRandom RANDOM = new SecureRandom();
    private static final Pattern KEYED_LINE = Pattern.compile("(\\d{1,9}|admin):(.*)");
    /** Rank of the admin in the keyring: HELLO rank -1. */
    public static final int ADMIN = -1;

    /** The one shared secret, or null with per-rank secrets. */
    private final byte[] shared;
    /** Per-rank secrets by rank ({@link #ADMIN} for the admin line); empty with a shared secret. */
    private final Map<Integer, byte[]> byRank;

    private HelloAuth(byte[] shared, Map<Integer, byte[]> byRank) {
        this.shared = shared;
        this.byRank = byRank;
    }

    public static HelloAuth ofSecret(byte[] secret) {
        return new HelloAuth(checked(secret, "auth token"), Map.of());
    }

    /** Per-rank secrets: {@code secrets} by rank, with {@link #ADMIN} for the admin's. */
    public static HelloAuth ofRankSecrets(Map<Integer, byte[]> secrets) {
        if (secrets.isEmpty()) {
            throw new IllegalArgumentException("per-rank auth needs at least one secret");
        }
        Map<Integer, byte[]> copy = new TreeMap<>();
        secrets.forEach((rank, secret) -> {
            if (rank < ADMIN) {
                throw new IllegalArgumentException("auth secret for rank " + rank + ": expected a rank >= 0 or admin (-1)");
            }
            copy.put(rank, checked(secret, "auth secret for " + name(rank)));
        });
        return new HelloAuth(null, copy);
    }

    /** The secrets in a token file: a shared secret, or RANK:SECRET / admin:SECRET lines (see the class doc). */
    public static HelloAuth fromFile(Path file) {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException("cannot read auth token file " + file + ": " + e.getMessage());
        }
        try {
            return parse(text);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("auth token file " + file + ": " + e.getMessage());
        }
    }

    /** A token file's text, as {@link #fromFile} reads it. */
    public static HelloAuth parse(String text) {
        String stripped = text.strip();
        if (stripped.isEmpty()) {
            throw new IllegalArgumentException("it is empty");
        }
        Map<Integer, byte[]> keyed = new TreeMap<>();
        String[] lines = stripped.split("\\R");
        for (String raw : lines) {
            String line = raw.strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            Matcher m = KEYED_LINE.matcher(line);
            if (!m.matches()) {
                // Not the per-rank format: the whole file is one shared secret (today's format).
                return ofSecret(stripped.getBytes(StandardCharsets.UTF_8));
            }
            int rank = m.group(1).equals("admin") ? ADMIN : Integer.parseInt(m.group(1));
            byte[] secret = m.group(2).strip().getBytes(StandardCharsets.UTF_8);
            if (keyed.put(rank, secret) != null) {
                throw new IllegalArgumentException(name(rank) + " has two secrets; expected one line per rank");
            }
        }
        if (keyed.isEmpty()) {
            return ofSecret(stripped.getBytes(StandardCharsets.UTF_8));
        }
        return ofRankSecrets(keyed);
    }

    private static byte[] checked(byte[] secret, String what) {
        if (secret.length < 16) {
            throw new IllegalArgumentException(what + " must be at least 16 bytes, got " + secret.length);
        }
        return secret.clone();
    }

    private static String name(int rank) {
        return rank == ADMIN ? "admin" : "rank " + rank;
    }

    /** True with one secret for everyone: its holders are admins, whatever rank they claim. */
    public boolean shared() {
        return shared != null;
    }

    /** True when this keyring can prove (or check) HELLO as {@code rank} (-1: the admin). */
    public boolean hasSecretFor(int rank) {
        return shared != null || byRank.containsKey(rank);
    }

    /** The ranks with a secret of their own, ascending ({@link #ADMIN} first when there is one); empty when shared. */
    public int[] ranks() {
        return byRank.keySet().stream().mapToInt(Integer::intValue).toArray();
    }

    public static byte[] newChallenge() {
        byte[] c = new byte[Messages.Hello.PROOF_BYTES];
        RANDOM.nextBytes(c);
        return c;
    }

    /** The proof for {@code rank}; throws naming the rank when this keyring holds no secret for it. */
    public byte[] proof(byte[] challenge, int rank) {
        byte[] secret = secretFor(rank);
        if (secret == null) {
            throw new IllegalArgumentException("the auth token file has no secret for " + name(rank)
                    + (rank == ADMIN ? " (an admin:SECRET line)" : " (a " + rank + ":SECRET line)"));
        }
        return proof(secret, challenge, rank);
    }

    private static byte[] proof(byte[] secret, byte[] challenge, int rank) {
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

    private byte[] secretFor(int rank) {
        return shared != null ? shared : byRank.get(rank);
    }

    /**
     * Constant-time check of a proof against the challenge this connection was given, with the secret of
     * the rank it claims: false when there is no secret for that rank.
     */
    public boolean verify(byte[] challenge, int rank, byte[] proof) {
        byte[] secret = secretFor(rank);
        return challenge != null && proof != null && secret != null
                && MessageDigest.isEqual(proof(secret, challenge, rank), proof);
    }

    @Override
    public String toString() {
        return shared != null ? "HelloAuth[shared secret]" : "HelloAuth[secrets for " + Arrays.toString(ranks())
                .replace(Integer.toString(ADMIN), "admin") + "]";
    }
}
