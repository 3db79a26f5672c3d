package io.gpups.core.protocol;

import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Token files: one shared secret, or per-rank secrets whose proofs bind their rank. */
class HelloAuthTest {

    private static final byte[] CHALLENGE = HelloAuth.newChallenge();

    @Test
    void aFileOfOneSecretIsSharedByEveryRankAndTheAdmin() {
        HelloAuth shared = HelloAuth.parse("  correct horse battery staple\n");
        assertTrue(shared.shared());
        HelloAuth same = HelloAuth.ofSecret("correct horse battery staple".getBytes(StandardCharsets.UTF_8));
        for (int rank : new int[] {-1, 0, 7}) {
            assertTrue(shared.verify(CHALLENGE, rank, same.proof(CHALLENGE, rank)));
        }
        // A proof is for its rank, even with one secret.
        assertFalse(shared.verify(CHALLENGE, 1, same.proof(CHALLENGE, 0)));
    }

    @Test
    void aSecretThatOnlyLooksKeyedOnSomeLinesIsStillOneSharedSecret() {
        HelloAuth shared = HelloAuth.parse("0:first line of a long secret\nand a second line\n");
        assertTrue(shared.shared());
    }

    @Test
    void perRankLinesBindEachProofToItsRank() {
        HelloAuth shard = HelloAuth.parse("""
                # job tokens
                0:rank-zero-secret-0123456789
                1:rank-one-secret-01234567890

                admin:the-admin-secret-0123456789
                """);
        assertFalse(shard.shared());
        assertArrayEquals(new int[] {-1, 0, 1}, shard.ranks());
        HelloAuth worker0 = HelloAuth.parse("0:rank-zero-secret-0123456789");
        assertTrue(shard.verify(CHALLENGE, 0, worker0.proof(CHALLENGE, 0)));
        // Rank 0's secret cannot speak for rank 1 or the admin, whatever rank it signs.
        assertFalse(shard.verify(CHALLENGE, 1, HelloAuth.parse("rank-zero-secret-0123456789").proof(CHALLENGE, 1)));
        assertFalse(shard.verify(CHALLENGE, -1, HelloAuth.parse("rank-zero-secret-0123456789").proof(CHALLENGE, -1)));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> worker0.proof(CHALLENGE, 1));
        assertTrue(e.getMessage().contains("no secret for rank 1 (a 1:SECRET line)"), e.getMessage());
        assertTrue(shard.verify(CHALLENGE, -1, HelloAuth.parse("admin:the-admin-secret-0123456789").proof(CHALLENGE, -1)));
        assertFalse(shard.verify(CHALLENGE, 2, worker0.proof(CHALLENGE, 0)), "no secret for rank 2 at all");
    }

    @Test
    void badPerRankFilesAreErrorsNamingTheLine() {
        IllegalArgumentException dup = assertThrows(IllegalArgumentException.class,
                () -> HelloAuth.parse("0:rank-zero-secret-0123456789\n0:another-secret-for-zero-000\n"));
        assertTrue(dup.getMessage().contains("rank 0 has two secrets"), dup.getMessage());
        IllegalArgumentException shortOne = assertThrows(IllegalArgumentException.class,
                () -> HelloAuth.parse("0:rank-zero-secret-0123456789\nadmin:short\n"));
        assertTrue(shortOne.getMessage().contains("auth secret for admin must be at least 16 bytes, got 5"), shortOne.getMessage());
    }
}
