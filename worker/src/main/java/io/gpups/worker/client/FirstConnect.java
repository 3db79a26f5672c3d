package io.gpups.worker.client;

import io.gpups.core.protocol.ErrorCode;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import javax.net.ssl.SSLException;
import java.io.IOException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A client's first connection to a shard, tried again with backoff until a deadline: the processes of a job
 * start in any order, so a worker may be up before its shards. Tried again: nothing listening yet, a
 * connection the shard closed before answering HELLO (it was full, or starting), and CONFLICT (the rank is
 * still held by a connection the shard has not yet seen close, e.g. this worker's previous life). Not tried
 * again, because waiting cannot fix them: a wrong or missing secret, a bad rank, a TLS failure.
 */
final class FirstConnect {

    private static final Logger log = LoggerFactory.getLogger(FirstConnect.class);

    /** First pause between tries; it doubles up to {@link #MAX_BACKOFF_MILLIS}. */
    static final long FIRST_BACKOFF_MILLIS = 100;
    static final long MAX_BACKOFF_MILLIS = 2000;

    interface Attempt<T> {
        T run() throws Exception;
    }

    private FirstConnect() {
    }

    /**
     * Runs {@code attempt} until it succeeds, fails for good, or {@code deadlineNanos} (System.nanoTime) passes;
     * {@code what} names the shard and its address in the log and in the error. With a deadline already passed,
     * one try.
     */
    static <T> T retry(String what, long timeoutMillis, long deadlineNanos, Attempt<T> attempt) throws Exception {
        long backoff = FIRST_BACKOFF_MILLIS;
        int tries = 0;
        for (;;) {
            try {
                return attempt.run();
            } catch (Exception e) {
                tries++;
                Throwable cause = unwrap(e);
                long left = TimeUnit.NANOSECONDS.toMillis(deadlineNanos - System.nanoTime());
                if (!retriable(cause) || left <= 0) {
                    if (timeoutMillis > 0 && retriable(cause)) {
                        throw new PsException(null, what + " not reachable within the connect timeout of " + timeoutMillis
                                + " ms (" + tries + " tries): " + describe(cause));
                    }
                    throw e;
                }
                if (tries == 1) {
                    log.info("{} not reachable yet ({}); trying again for up to {} ms", what, describe(cause), left);
                }
                Thread.sleep(Math.min(backoff, left));
                backoff = Math.min(2 * backoff, MAX_BACKOFF_MILLIS);
            }
        }
    }

    private static Throwable unwrap(Throwable e) {
        while ((e instanceof ExecutionException || e instanceof CompletionException) && e.getCause() != null) {
            e = e.getCause();
        }
        return e;
    }

    /** True for failures that a later try may not have. */
    static boolean retriable(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof SSLException) {
                return false;
            }
        }
        if (e instanceof PsException ps) {
            // No code: the connection failed or closed before the answer.
            return ps.code() == null || ps.code() == ErrorCode.CONFLICT;
        }
        return e instanceof IOException || e instanceof TimeoutException || e instanceof io.netty.channel.ConnectTimeoutException;
    }

    private static String describe(Throwable e) {
        return e.getMessage() != null ? e.getMessage() : e.toString();
    }
}
