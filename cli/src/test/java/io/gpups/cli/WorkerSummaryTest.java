package io.gpups.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.gpups.worker.train.EpochReport;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class WorkerSummaryTest {

    /** Two epochs with known counters: every field is the hand-computed value, not a recomputation of another field. */
    @Test
    void summaryFieldsComeFromTheLastReportAndTheTrainingTime() {
        List<EpochReport> reports = List.of(
                new EpochReport(0, 0.9, 1000, 0.70, 10, 100, 400, 2.0),
                new EpochReport(1, 0.5, 3000, 0.80, 20, 250, 1000, 1.0));
        ObjectNode s = WorkerSummary.of(reports, 4.0);
        assertEquals(0.80, s.get("test_accuracy").asDouble(), 0);
        assertEquals(2, s.get("epochs").asInt());
        assertEquals(4.0, s.get("train_seconds").asDouble(), 0);
        // 1000 samples/s for 2 s and 3000 for 1 s: 5000 samples over 4 s of training.
        assertEquals(1250, s.get("samples_per_second").asDouble(), 1e-9);
        assertEquals(20, s.get("pushes").asLong());
        assertEquals(250, s.get("bytes_pushed").asLong());
        assertEquals(250, s.get("bytes_pushed_wire").asLong());
        assertEquals(1000, s.get("bytes_pushed_raw").asLong());
        assertEquals(4.0, s.get("compression_ratio").asDouble(), 0);
        assertEquals(2, s.get("epoch_reports").size());
        assertEquals(1, s.get("epoch_reports").get(0).get("epoch").asInt(), "epochs counted from 1, as local prints them");
        assertEquals(0.9, s.get("epoch_reports").get(0).get("loss").asDouble(), 0);
        assertEquals(2, s.get("epoch_reports").get(1).get("epoch").asInt());
    }

    @Test
    void aWorkerThatDoesNotEvaluateHasNullAccuracyAndNoTrainingIsRatioOne() {
        ObjectNode s = WorkerSummary.of(List.of(new EpochReport(0, 0.9, 1000, Double.NaN, 10, 100, 100, 2.0)), 2.0);
        assertTrue(s.get("test_accuracy").isNull(), s.toString());
        assertTrue(s.get("epoch_reports").get(0).get("test_accuracy").isNull(), s.toString());
        ObjectNode none = WorkerSummary.of(List.of(), 0);
        assertEquals(0, none.get("epochs").asInt());
        assertEquals(1.0, none.get("compression_ratio").asDouble(), 0);
        assertEquals(0, none.get("samples_per_second").asDouble(), 0);
    }
}
