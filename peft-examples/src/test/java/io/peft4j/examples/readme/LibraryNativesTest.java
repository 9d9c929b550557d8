package io.peft4j.examples.readme;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/**
 * The library POMs declare no natives a consumer would inherit: every PyTorch natives dependency of
 * a library module is test-scoped (test scope is not transitive), in every profile; only the
 * modules that run code (the CLI and examples, the benchmarks) put them on their runtime path.
 */
class LibraryNativesTest {

    private static final List<String> LIBRARIES =
            List.of(
                    "peft-core",
                    "peft-models",
                    "peft-tasks",
                    "peft-lora",
                    "peft-mos",
                    "peft-shadow",
                    "peft-masa",
                    "peft-lift");
    private static final List<String> APPLICATIONS = List.of("peft-examples", "peft-bench");

    /**
     * "module: scope" of each pytorch-native-* dependency in a module's POM (profiles included).
     */
    private static List<String> nativeScopes(String module) throws Exception {
        var factory = DocumentBuilderFactory.newInstance();
        factory.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
        var doc = factory.newDocumentBuilder().parse(Path.of("..", module, "pom.xml").toFile());
        NodeList deps = doc.getElementsByTagName("dependency");
        List<String> scopes = new ArrayList<>();
        for (int i = 0; i < deps.getLength(); i++) {
            Element d = (Element) deps.item(i);
            String artifact = d.getElementsByTagName("artifactId").item(0).getTextContent().trim();
            if (artifact.startsWith("pytorch-native")) {
                NodeList scope = d.getElementsByTagName("scope");
                scopes.add(
                        module
                                + ": "
                                + (scope.getLength() == 0
                                        ? "compile"
                                        : scope.item(0).getTextContent().trim()));
            }
        }
        return scopes;
    }

    @Test
    void librariesDeclareNativesForTheirTestsOnly() throws Exception {
        for (String module : LIBRARIES) {
            for (String scope : nativeScopes(module)) {
                assertEquals(
                        module + ": test",
                        scope,
                        "a library must not hand natives to its consumers");
            }
        }
    }

    @Test
    void applicationsBringTheirOwnNatives() throws Exception {
        for (String module : APPLICATIONS) {
            List<String> scopes = nativeScopes(module);
            assertFalse(scopes.isEmpty(), module + " runs code and needs natives");
            scopes.forEach(s -> assertEquals(module + ": runtime", s));
        }
    }
}
