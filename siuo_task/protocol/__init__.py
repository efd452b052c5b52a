"""The SIUO benchmark itself, pure: every rule of the protocol, standard library and ``siuo_dataset`` only.

Read in the order a response travels:
- ``model_prompts``: what the model under test is asked (generation: the question with the image, 3 responses
  at temperature 1.0; MCQA: the fixed letter prompt at temperature 0), and the order of image and text;
- ``judge_prompts``: what the judge is asked (the two aspects, the call, the versioned prompts: the safety
  judge sees the safety warning and the reference answer, the effectiveness judge neither), the order of text
  and image in its request;
- ``verdicts``: how a judge's reply becomes a verdict (the final JSON object only, strict), the one
  re-ask, the empty-response rule;
- ``metric_defs``: every metric as data (name, label, task, direction, undecided count, its rule for one
  response) and the typed ``Figure``; everything that lists metrics derives from it;
- ``figures``: how verdicts become figures (S&E per response, per-item majority, one denominator for the rates
  and the official tie rule beside it, Wilson intervals, Newcombe's paired differences) and MCQA accuracy;
- ``mcqa``: how an MCQA answer becomes a letter (strict, and the official parser for paper-compat).

Everything else (judge backends, runner, cache, batch, the lmms-eval glue, report, review) calls into this
package; ``docs/protocol.md`` points here rule by rule.
"""
