// Lorenz over many Lyapunov times, in the model language: its loss is so sensitive that finite differences do not
// settle (each tensor's ladder goes past its first step, to ε/4, where its quotients scatter), which the tests of
// how finite differences are scheduled use (test/unit/checkThreads.test.ts, earlySolves.test.ts).
export const lorenzText = (total: number, dt: number): string => `x'=s*(y-x)
y'=x*(r-z)-y
z'=x*y-b*z
par s=10, r=28, b=2.667
init x=1, y=1, z=20
loss = x(T)^2 + y(T)^2 + z(T)^2
@ total=${total}, dt=${dt}, meth=rk4
done
`;
