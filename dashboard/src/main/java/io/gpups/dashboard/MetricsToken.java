package io.gpups.dashboard;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** The bearer token of a metrics endpoint, from {@code --metrics-token-file}. */
public final class MetricsToken {

    private MetricsToken() {
    }

    /** The file's text without surrounding whitespace; at least 16 bytes of visible ASCII, no spaces. */
    public static String read(Path file) {
        String token;
        try {
            token = Files.readString(file, StandardCharsets.UTF_8).strip();
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read metrics token file " + file + ": " + e.getMessage());
        }
        if (token.length() < 16) {
            throw new IllegalArgumentException("metrics token file " + file + ": the token must be at least 16 characters, got "
                    + token.length());
        }
        for (int i = 0; i < token.length(); i++) {
            char c = token.charAt(i);
            if (c <= ' ' || c > '~') {
                throw new IllegalArgumentException("metrics token file " + file + ": the token must be visible ASCII without "
                        + "spaces (it travels in an HTTP header), found character " + (int) c + " at " + i);
            }
        }
        return token;
    }
}
