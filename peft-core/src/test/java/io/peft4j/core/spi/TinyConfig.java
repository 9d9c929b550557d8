package io.peft4j.core.spi;

import com.google.gson.JsonObject;
import io.peft4j.core.target.TargetSpec;
import java.util.Set;
import java.util.function.Consumer;

/**
 * A test-only method config on the shared pieces, written the way the method modules write theirs:
 * one own key ({@code size}), the rest from {@link TargetedConfig}, {@link TargetedConfigBuilder}
 * and {@link ConfigJson}.
 */
final class TinyConfig extends TargetedConfig {

    static final String PEFT_TYPE = "TINY";
    private static final Set<String> KNOWN = ConfigJson.targetedKeys("size");

    /** The method's own key, {@code size}. */
    final int size;

    private TinyConfig(Builder b) {
        super(b);
        this.size = b.size;
    }

    /** A builder without default targets (as LoRA's). */
    static Builder builder() {
        return new Builder();
    }

    /** A builder whose targets default to all-linear (as LIFT's). */
    static Builder allLinearByDefault() {
        return new Builder(TargetSpec.Builder::allLinear);
    }

    Builder toBuilder() {
        Builder b = new Builder(this);
        b.size = size;
        return b;
    }

    @Override
    public JsonObject toJson() {
        JsonObject own = new JsonObject();
        own.addProperty("size", size);
        JsonObject j = sortedJson(own);
        ConfigJson.writeModulesToSave(j, modulesToSave());
        return j;
    }

    static TinyConfig fromJson(JsonObject j, Consumer<String> warnings) {
        ConfigJson.require(j, "Tiny", "size", "target_modules");
        Builder b = builder().size(ConfigJson.intValue(j.get("size"), "size"));
        ConfigJson.read(j, b);
        ConfigJson.warnUnknown(j, KNOWN, "Tiny", warnings);
        return b.build();
    }

    @Override
    public String peftType() {
        return PEFT_TYPE;
    }

    static final class Builder extends TargetedConfigBuilder<Builder> {
        private int size = 1;

        private Builder() {}

        private Builder(Consumer<TargetSpec.Builder> defaultTargets) {
            super(defaultTargets);
        }

        private Builder(TinyConfig from) {
            super(from);
        }

        Builder size(int size) {
            if (size < 1) {
                throw new IllegalArgumentException("size must be >= 1, got " + size);
            }
            this.size = size;
            return this;
        }

        TinyConfig build() {
            return new TinyConfig(this);
        }
    }
}
