package io.gpups.cli;

import io.gpups.core.protocol.Frame;
import io.gpups.core.protocol.Messages;
import io.gpups.core.protocol.TlsFiles;
import io.gpups.core.tensor.ChunkLayout;
import io.gpups.worker.client.PsClient;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * {@code gpups checkpoint}: asks every shard of a job to write a checkpoint now, all under the same name,
 * and waits until every shard's files are durable.
 */
@Command(name = "checkpoint", mixinStandardHelpOptions = true,
        description = "Write a checkpoint of a running job now (every shard needs --checkpoint-dir).")
final class CheckpointCommand implements Callable<Integer> {

    @Option(names = "--servers", required = true, split = ",", description = "Shard addresses HOST:PORT, in shard order.")
    List<String> servers;

    @Option(names = "--name", description = "Checkpoint name (A-Z a-z 0-9 . _ -); the directory is ckpt-NAME-<S>shards "
            + "(default: manual-<UTC time>).")
    String name;

    @Option(names = "--timeout", defaultValue = "600", description = "Seconds to wait for every shard (default: ${DEFAULT-VALUE}).")
    int timeoutSeconds;

    @Mixin
    SecurityOptions security;

    @Override
    public Integer call() throws Exception {
        List<InetSocketAddress> addresses = WorkerCommand.parseAddresses(servers);
        String label = name != null ? name
                : "manual-" + DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'").withZone(ZoneOffset.UTC).format(java.time.Instant.now());
        TlsFiles tls = security.tls();
        PsClient.Options options = new PsClient.Options(ChunkLayout.DEFAULT_CHUNK_BYTES, Frame.DEFAULT_MAX_FRAME_BYTES)
                .secured(security.auth(), tls == null ? null : tls.clientContext());
        PrintStream out = System.out;
        PsClient connected;
        try {
            connected = PsClient.connect(addresses, -1, options);
        } catch (RuntimeException e) {
            throw new CliException(e.getMessage());
        }
        try (PsClient client = connected) {
            List<Messages.CheckpointReply> replies;
            try {
                replies = client.checkpoint(label).get(timeoutSeconds, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                throw new CliException("checkpoint failed: " + e.getCause().getMessage());
            } catch (java.util.concurrent.TimeoutException e) {
                throw new CliException("checkpoint: not every shard answered within " + timeoutSeconds + " s");
            }
            for (int s = 0; s < replies.size(); s++) {
                Messages.CheckpointReply r = replies.get(s);
                out.printf("shard %d: %s  %d chunk(s), min version %d, %s%n", s, r.directory(), r.chunks(), r.minVersion(),
                        (r.flags() & Messages.CheckpointReply.WRITTEN) != 0 ? r.bytes() + " bytes written" : "unchanged, not rewritten");
            }
            out.println("checkpoint " + replies.get(0).directory() + " written by " + replies.size() + " shard(s)");
        }
        return 0;
    }
}
