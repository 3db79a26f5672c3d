package io.gpups.cli;

import io.gpups.core.protocol.HelloAuth;
import io.gpups.core.protocol.TlsFiles;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Authentication and TLS flags, shared by every command that serves or connects. */
final class SecurityOptions {

    @Option(names = "--auth-token-file", description = "File holding the job's secret (at least 16 bytes), or one "
            + "RANK:SECRET line per worker rank plus admin:SECRET: every connection proves it knows the secret of the "
            + "rank it claims (HMAC challenge-response in HELLO); SHUTDOWN and CHECKPOINT need the admin secret "
            + "(with one shared secret, that one).")
    Path authTokenFile;

    @Option(names = "--tls-cert", description = "PEM certificate chain: a shard's own, or a worker's client certificate.")
    Path tlsCert;

    @Option(names = "--tls-key", description = "PEM (PKCS#8) private key of --tls-cert.")
    Path tlsKey;

    @Option(names = "--tls-ca", description = "PEM CA bundle: on a shard, require client certificates it signed "
            + "(mutual TLS); on a client, the CA the shards' certificates must chain to.")
    Path tlsCa;

    /** The secrets of the token file, or null when none is given. */
    HelloAuth auth() {
        return authTokenFile == null ? null : HelloAuth.fromFile(authTokenFile);
    }

    /** The TLS files, or null for plain TCP. */
    TlsFiles tls() {
        return TlsFiles.of(tlsCert, tlsKey, tlsCa);
    }

    /** The same flags, for a child process. */
    List<String> asArgs() {
        List<String> a = new ArrayList<>();
        add(a, "--auth-token-file", authTokenFile);
        add(a, "--tls-cert", tlsCert);
        add(a, "--tls-key", tlsKey);
        add(a, "--tls-ca", tlsCa);
        return a;
    }

    private static void add(List<String> args, String flag, Path value) {
        if (value != null) {
            args.add(flag);
            args.add(value.toAbsolutePath().toString());
        }
    }
}
