package io.gpups.cli.progress;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Progress lines, bars and the job view of several workers, on a fake clock. */
class ProgressTest {

    @Test
    void jsonLinesEverySecondThenAtEpochEnd() throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        AtomicLong now = new AtomicLong();
        TrainingProgress p = new TrainingProgress(ProgressMode.JSON, new PrintStream(bytes, true, StandardCharsets.UTF_8), now::get);
        p.epochStarted(0, 2, 10);
        for (int s = 0; s < 4; s++) {
            now.addAndGet(400_000_000L);
            p.stepEnded(0, s, 10, 64, 1.0 + s);
        }
        String[] lines = bytes.toString(StandardCharsets.UTF_8).split("\n");
        assertEquals(1, lines.length, "one line after 1.2 s: " + bytes);
        assertTrue(lines[0].startsWith(TrainingProgress.PREFIX));
        JsonNode n = new ObjectMapper().readTree(lines[0].substring(TrainingProgress.PREFIX.length()));
        assertEquals(3, n.path("step").asInt());
        assertEquals(10, n.path("steps").asInt());
        assertEquals(2.0, n.path("loss").asDouble(), 1e-9, "mean of 1, 2, 3");
        assertEquals(192 / 1.2, n.path("samples_per_second").asDouble(), 0.1);
    }

    @Test
    void barIsRedrawnInPlaceAndClearedBeforeLines() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        AtomicLong now = new AtomicLong();
        LocalProgress p = new LocalProgress(2, ProgressMode.BAR, new PrintStream(bytes, true, StandardCharsets.UTF_8), now::get);
        now.addAndGet(1_000_000_000L);
        p.add(0, "{\"epoch\":0,\"epochs\":3,\"step\":50,\"steps\":100,\"loss\":0.5,\"samples_per_second\":1000}");
        now.addAndGet(1_000_000_000L);
        p.add(1, "{\"epoch\":0,\"epochs\":3,\"step\":100,\"steps\":100,\"loss\":0.7,\"samples_per_second\":3000}");
        p.lines().println("epoch  1/3  loss 0.6");
        p.close();
        String text = bytes.toString(StandardCharsets.UTF_8);
        assertTrue(text.contains("\repoch 1/3 [======================>       ]  75%  4,000 samples/s  loss 0.6000"), text);
        assertTrue(text.contains("\r\033[Kepoch  1/3  loss 0.6\n"), "the bar is cleared before a line: " + text);
    }

    @Test
    void plainLinesAtMostEveryTenSeconds() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        AtomicLong now = new AtomicLong();
        LocalProgress p = new LocalProgress(1, ProgressMode.PLAIN, new PrintStream(bytes, true, StandardCharsets.UTF_8), now::get);
        for (int i = 1; i <= 25; i++) {
            now.addAndGet(1_000_000_000L);
            p.add(0, "{\"epoch\":1,\"epochs\":3,\"step\":" + i + ",\"steps\":100,\"loss\":0.5,\"samples_per_second\":10}");
        }
        String text = bytes.toString(StandardCharsets.UTF_8);
        assertEquals(2, text.lines().count(), text);
        assertTrue(text.startsWith("progress: epoch 2/3  10%  10 samples/s  loss 0.5000\n"), text);
    }
}
