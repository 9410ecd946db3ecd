import { useState } from "react";
import { domainProblem } from "../lib/snippet";

/**
 * useDomainCheck checks a domain form's input before it is sent, saying
 * what is wrong in the form's words rather than the API's (domainProblem).
 * check answers whether host may be sent; clear forgets the problem (the
 * user is typing again); inputProps tie the input to the message.
 */
export function useDomainCheck(id: string) {
  const [problem, setProblem] = useState<string>();
  return {
    check: (host: string) => {
      const p = domainProblem(host);
      setProblem(p);
      return !p;
    },
    clear: () => setProblem(undefined),
    inputProps: { "aria-invalid": !!problem, "aria-describedby": problem ? id : undefined },
    message: problem ? (
      <p id={id} className="danger-text" role="alert" data-testid="domain-problem">
        {problem}
      </p>
    ) : null,
  };
}
