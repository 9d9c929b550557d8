package io.peft4j.testing.toy;

import com.google.gson.JsonObject;
import io.peft4j.core.spi.ConfigJson;
import io.peft4j.core.spi.TargetedConfig;
import io.peft4j.core.spi.TargetedConfigBuilder;
import java.util.Set;
import java.util.function.Consumer;

/**
 * The toy method's config: the shared target keys plus one own key, {@code init_gain} (the gain
 * every input feature starts at; 0 leaves the model unchanged).
 */
public final class ToyConfig extends TargetedConfig {

    static final String PEFT_TYPE = "TOY";

    /** Every key {@link #fromJson} reads: what {@code --set} may set. */
    static final Set<String> KNOWN = ConfigJson.targetedKeys("init_gain");

    final float initGain;

    private ToyConfig(Builder b) {
        super(b);
        this.initGain = b.initGain;
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public String peftType() {
        return PEFT_TYPE;
    }

    @Override
    public JsonObject toJson() {
        JsonObject own = new JsonObject();
        own.addProperty("init_gain", initGain);
        JsonObject j = sortedJson(own);
        ConfigJson.writeModulesToSave(j, modulesToSave());
        return j;
    }

    static ToyConfig fromJson(JsonObject j, Consumer<String> warnings) {
        ConfigJson.require(j, "Toy", "target_modules");
        Builder b = builder();
        if (ConfigJson.has(j, "init_gain")) {
            b.initGain(ConfigJson.floatValue(j.get("init_gain"), "init_gain"));
        }
        ConfigJson.read(j, b);
        ConfigJson.warnUnknown(j, KNOWN, "Toy", warnings);
        return b.build();
    }

    public static final class Builder extends TargetedConfigBuilder<Builder> {
        private float initGain;

        private Builder() {}

        Builder initGain(float value) {
            if (!Float.isFinite(value)) {
                throw new IllegalArgumentException("init_gain must be finite, got " + value);
            }
            this.initGain = value;
            return this;
        }

        public ToyConfig build() {
            return new ToyConfig(this);
        }
    }
}
