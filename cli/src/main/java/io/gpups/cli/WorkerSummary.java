package io.gpups.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.gpups.worker.train.EpochReport;

import java.util.List;

/**
 * One worker's final summary for {@code gpups worker --json}, in the fields and units of {@code gpups local --json}
 * but for this worker alone: {@code test_accuracy} (the last epoch's; null except on rank 0, which evaluates),
 * {@code test_auc} and {@code test_logloss} (the same, for models with binary labels),
 * {@code epochs}, {@code train_seconds}, {@code samples_per_second} (samples trained over {@code train_seconds}),
 * {@code pushes}, {@code bytes_pushed}, {@code bytes_pushed_wire}, {@code bytes_pushed_raw}, {@code compression_ratio}
 * and {@code epoch_reports} (epoch counted from 1, as local prints it).
 */
final class WorkerSummary {

    private static final ObjectMapper JSON = new ObjectMapper();

    private WorkerSummary() {
    }

    static ObjectNode of(List<EpochReport> reports, double trainSeconds) {
        ObjectNode s = JSON.createObjectNode();
        EpochReport last = reports.isEmpty() ? null : reports.get(reports.size() - 1);
        number(s, "test_accuracy", last == null ? Double.NaN : last.testAccuracy());
        number(s, "test_auc", last == null ? Double.NaN : last.testAuc());
        number(s, "test_logloss", last == null ? Double.NaN : last.testLogLoss());
        s.put("epochs", reports.size());
        s.put("train_seconds", trainSeconds);
        double samples = 0;
        for (EpochReport r : reports) {
            samples += r.samplesPerSecond() * r.seconds();
        }
        s.put("samples_per_second", trainSeconds > 0 ? samples / trainSeconds : 0);
        // The client's counters are cumulative: the last report holds the totals.
        long pushes = last == null ? 0 : last.pushes();
        long wire = last == null ? 0 : last.bytesPushed();
        long raw = last == null ? 0 : last.bytesPushedRaw();
        s.put("pushes", pushes);
        s.put("bytes_pushed", wire);
        s.put("bytes_pushed_wire", wire);
        s.put("bytes_pushed_raw", raw);
        s.put("compression_ratio", wire > 0 ? (double) raw / wire : 1.0);
        ArrayNode rows = s.putArray("epoch_reports");
        for (EpochReport r : reports) {
            ObjectNode row = rows.addObject();
            row.put("epoch", r.epoch() + 1);
            row.put("loss", r.meanTrainLoss());
            number(row, "test_accuracy", r.testAccuracy());
            number(row, "test_auc", r.testAuc());
            number(row, "test_logloss", r.testLogLoss());
            row.put("samples_per_second", r.samplesPerSecond());
            row.put("seconds", r.seconds());
            row.put("pushes", r.pushes());
            row.put("bytes_pushed", r.bytesPushed());
            row.put("bytes_pushed_raw", r.bytesPushedRaw());
        }
        return s;
    }

    private static void number(ObjectNode o, String field, double v) {
        if (Double.isFinite(v)) {
            o.put(field, v);
        } else {
            o.putNull(field);
        }
    }
}
