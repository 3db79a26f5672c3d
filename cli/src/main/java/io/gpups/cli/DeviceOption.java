package io.gpups.cli;

import picocli.CommandLine.Option;

/** {@code --device}, shared by {@code server}, {@code worker}, {@code local} and {@code bench}. */
final class DeviceOption {

    @Option(names = "--device", defaultValue = "auto", description = "auto, cpu, cuda or cuda:N; auto takes CUDA where it "
            + "is usable, else the CPU, and says why (default: ${DEFAULT-VALUE}).")
    String spec;
}
