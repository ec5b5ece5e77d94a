/* placeholder: replaced by the askpass helper */
int main(void) { return 1; }
