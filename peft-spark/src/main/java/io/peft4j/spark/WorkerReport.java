package io.peft4j.spark;

import java.io.Serializable;
import java.util.Map;

/** What one barrier task sends back to the driver. */
record WorkerReport(
        int rank,
        int rows,
        long trainableValues,
        long startStep,
        float[] losses,
        double seconds,
        double exchangeSeconds,
        long exchanges,
        long messageBytes,
        long hashChecks,
        String finalHash,
        Map<String, byte[]> adapterFiles)
        implements Serializable {}
