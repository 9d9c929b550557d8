/**
 * The service-provider interface a PEFT method implements: its {@link
 * io.peft4j.core.spi.PeftMethod} (found through {@link java.util.ServiceLoader}), its {@link
 * io.peft4j.core.spi.AdapterConfig}, the {@link io.peft4j.core.spi.Adapter} it installs and the
 * adapter layers that wrap targeted modules, plus the shared pieces for targeted configs and their
 * {@code adapter_config.json} keys.
 */
package io.peft4j.core.spi;
