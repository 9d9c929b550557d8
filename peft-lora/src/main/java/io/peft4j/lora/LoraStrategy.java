package io.peft4j.lora;

/**
 * What the injector asks of a LoRA variant ({@link LoraVariant.Choice}) and of an init ({@link
 * LoraInitializer}) before it attaches an adapter: its name in errors and whether it applies to
 * embedding tables as well as to Linear.
 */
interface LoraStrategy {

    /** {@return the name in error messages, e.g. {@code DoRA} or {@code PiSSA init}} */
    String name();

    /** {@return whether it applies to embedding tables (else only to Linear)} */
    boolean supportsEmbeddings();
}
