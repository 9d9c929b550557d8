package io.peft4j.spark;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.peft4j.core.PeftMethods;
import io.peft4j.core.spi.AdapterConfig;
import java.io.Serializable;
import java.util.Objects;

/**
 * The adapter configuration as each worker obtains it. Workers compare what they obtained (as
 * {@code adapter_config.json} text) before training and refuse to start when it differs.
 */
@FunctionalInterface
public interface AdapterConfigSource extends Serializable {

    /**
     * Returns the configuration on this worker.
     *
     * @return the configuration
     */
    AdapterConfig config();

    /**
     * Ships {@code config} from the driver as its {@code adapter_config.json} text, parsed on each
     * worker by the method found through peft-core's registry ({@link PeftMethods}).
     *
     * @param config any method's configuration
     * @return the source
     */
    static AdapterConfigSource of(AdapterConfig config) {
        Objects.requireNonNull(config, "config");
        String peftType = config.peftType();
        String json = config.toJson().toString();
        // the driver checks now that the method parses its own JSON, rather than each worker later
        parse(peftType, json);
        return () -> parse(peftType, json);
    }

    private static AdapterConfig parse(String peftType, String json) {
        JsonObject object = JsonParser.parseString(json).getAsJsonObject();
        return PeftMethods.forType(peftType).parseConfig(object, warning -> {});
    }
}
