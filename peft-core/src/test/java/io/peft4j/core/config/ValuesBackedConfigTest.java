package io.peft4j.core.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import org.junit.jupiter.api.Test;

/** Equality of values-backed configs: same class and equal values, nothing else. */
class ValuesBackedConfigTest {

    private static final ConfigKey<Integer> SIZE = ConfigKey.ofInt("size", 8);
    private static final ConfigValues DEFAULTS = ConfigValues.defaults(SIZE);

    private static final class Small extends ValuesBackedConfig {
        private final ConfigValues values;

        Small(int size) {
            this.values = DEFAULTS.toBuilder().set(SIZE, size).build();
        }

        @Override
        protected ConfigValues values() {
            return values;
        }
    }

    private static final class Other extends ValuesBackedConfig {
        private final ConfigValues values = DEFAULTS;

        @Override
        protected ConfigValues values() {
            return values;
        }
    }

    @Test
    void equalWhenTheClassAndTheValuesAre() {
        assertEquals(new Small(4), new Small(4));
        assertEquals(new Small(4).hashCode(), new Small(4).hashCode());
        assertNotEquals(new Small(4), new Small(5));
        assertNotEquals(new Small(8), new Other(), "same values, another class");
        assertNotEquals(new Small(8), null);
    }
}
