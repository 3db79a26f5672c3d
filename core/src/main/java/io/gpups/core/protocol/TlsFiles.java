package io.gpups.core.protocol;

import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;

import javax.net.ssl.SSLException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * TLS from PEM files: a certificate chain and its PKCS#8 private key, and optionally a CA bundle. On a
 * shard, a CA means mutual TLS (every client must present a certificate the CA signed); on a client, the
 * CA is what the shard's certificate must chain to, and the certificate and key (if given) are presented
 * to shards that ask for one.
 */
public record TlsFiles(Path certificate, Path privateKey, Path ca) {

    public TlsFiles {
        if ((certificate == null) != (privateKey == null)) {
            throw new IllegalArgumentException("--tls-cert and --tls-key go together, got only "
                    + (certificate != null ? "--tls-cert " + certificate : "--tls-key " + privateKey));
        }
        for (Path p : new Path[] {certificate, privateKey, ca}) {
            if (p != null && !Files.isReadable(p)) {
                throw new IllegalArgumentException("TLS file " + p + " does not exist or is not readable");
            }
        }
    }

    /** Null when no TLS flag is given. */
    public static TlsFiles of(Path certificate, Path privateKey, Path ca) {
        return certificate == null && privateKey == null && ca == null ? null : new TlsFiles(certificate, privateKey, ca);
    }

    public SslContext serverContext() {
        if (certificate == null) {
            throw new IllegalArgumentException("a TLS shard needs --tls-cert and --tls-key");
        }
        try {
            SslContextBuilder b = SslContextBuilder.forServer(certificate.toFile(), privateKey.toFile());
            if (ca != null) {
                b.trustManager(ca.toFile()).clientAuth(ClientAuth.REQUIRE);
            }
            return b.build();
        } catch (SSLException | IllegalArgumentException e) {
            throw new IllegalArgumentException("cannot load TLS files " + this + ": " + e.getMessage(), e);
        }
    }

    public SslContext clientContext() {
        if (ca == null) {
            throw new IllegalArgumentException("a TLS client needs --tls-ca to check the shards' certificates");
        }
        try {
            SslContextBuilder b = SslContextBuilder.forClient().trustManager(ca.toFile());
            if (certificate != null) {
                b.keyManager(certificate.toFile(), privateKey.toFile());
            }
            return b.build();
        } catch (SSLException | IllegalArgumentException e) {
            throw new IllegalArgumentException("cannot load TLS files " + this + ": " + e.getMessage(), e);
        }
    }
}
