// Accessibility of the pages a participant sees: axe-core (npm, in .tools/) injected into
// the page through the engine's driver, its serious and critical violations returned.
import { AXE_SOURCE } from './engines.mjs';

/** The serious and critical axe-core violations of the page the driver shows now. */
export async function axeViolations(d) {
  if (!(await d.evaluate(() => typeof window.axe !== 'undefined'))) await d.run(AXE_SOURCE());
  const violations = await d.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.slice(0, 4).map((n) => `${n.target.join(' ')}: ${n.failureSummary?.split('\n').slice(1).join(' ').trim()}`),
    }));
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}
