"""GitHub: the REST client (`client`), which credentials and account (`auth`, `context`), an issue read as the
model's task (`issue`), what be-agent writes back (`posts`, `replies`), `be-agent fix-issue` (`fix_issue`),
and follow-ups on be-agent's own branches: the comments taken (`comments`), what the branch's commits say
(`history`), the run (`follow_up`) and `be-agent respond` (`respond`). Importing the package loads none of
them."""
