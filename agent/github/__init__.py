"""GitHub: the REST client (`client`), an issue read as the model's task (`issue`), what be-agent writes back
(`posts`), and `be-agent fix-issue` itself (`fix_issue`). Importing the package loads none of them."""
