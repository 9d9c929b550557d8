package io.peft4j.core;

import io.peft4j.core.spi.AdapterConfig;
import io.peft4j.core.spi.PeftMethod;
import java.util.Map;
import java.util.ServiceLoader;
import java.util.TreeMap;

/** The methods on the class path, found through {@link ServiceLoader}. */
public final class PeftMethods {

    private PeftMethods() {}

    /**
     * Every registered method by {@code peft_type}.
     *
     * @return the methods found by {@link ServiceLoader}, keyed and sorted by {@code peft_type}
     */
    public static Map<String, PeftMethod> all() {
        Map<String, PeftMethod> methods = new TreeMap<>();
        for (PeftMethod m :
                ServiceLoader.load(PeftMethod.class, PeftMethods.class.getClassLoader())) {
            methods.put(m.peftType(), m);
        }
        return methods;
    }

    /**
     * The method for a {@code peft_type}.
     *
     * @param peftType the {@code peft_type} to look up
     * @return the method registered for {@code peftType}
     * @throws IllegalArgumentException listing the known types if none matches
     */
    public static PeftMethod forType(String peftType) {
        PeftMethod m = all().get(peftType);
        if (m == null) {
            throw new IllegalArgumentException(
                    "No PEFT method with peft_type '"
                            + peftType
                            + "' is on the class path; known: "
                            + all().keySet()
                            + ". Add the method's module (e.g. io.peft4j:peft-lora) as a dependency.");
        }
        return m;
    }

    /**
     * The method that accepts {@code config}.
     *
     * @param config an adapter configuration
     * @return the method for {@code config}'s {@code peft_type}
     * @throws IllegalArgumentException if no method has that type, or the method takes another
     *     config class
     */
    public static PeftMethod forConfig(AdapterConfig config) {
        PeftMethod m = forType(config.peftType());
        if (!m.configType().isInstance(config)) {
            throw new IllegalArgumentException(
                    "Method for peft_type '"
                            + config.peftType()
                            + "' takes "
                            + m.configType().getName()
                            + ", not "
                            + config.getClass().getName());
        }
        return m;
    }
}
