"""The rules that judge a claim: its band (`tolerance`) and where its runs fall against it
(`verdicts`). Below the report and the catalog check, which both use them."""
